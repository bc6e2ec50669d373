"""2D RoPE and attention layers against explicit float64 formulas."""

from __future__ import annotations

import math

import pytest
import torch

from recon3r.models.layers import Attention, CrossAttention, RoPE2D, apply_rotary, patch_positions


def explicit_rope(x: torch.Tensor, pos: torch.Tensor, base: float = 100.0) -> torch.Tensor:
    """Reference maths, channel pair by channel pair: row rotates the first half, col the second."""
    B, H, N, hd = x.shape
    half, quarter = hd // 2, hd // 4
    out = x.clone()
    for b in range(B):
        for n in range(N):
            for axis in range(2):
                p = float(pos[b, n, axis])
                if p < 0:
                    continue
                for i in range(quarter):
                    theta = p / base ** (2 * i / half)
                    a, c = axis * half + i, axis * half + i + quarter
                    x1, x2 = x[b, :, n, a], x[b, :, n, c]
                    out[b, :, n, a] = x1 * math.cos(theta) - x2 * math.sin(theta)
                    out[b, :, n, c] = x2 * math.cos(theta) + x1 * math.sin(theta)
    return out


def test_rope_matches_split_half_formula_float64():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 8, dtype=torch.float64)
    pos = torch.randint(0, 9, (2, 6, 2))
    ours = apply_rotary(x, RoPE2D(100.0).table(pos, 8))
    torch.testing.assert_close(ours, explicit_rope(x, pos), rtol=1e-6, atol=1e-6)


def test_float16_rope_runs_inside_a_cpu_bfloat16_autocast():
    """CroCo's float16 encoder RoPE inside mixed-precision training: the channel swap must not use an op
    autocast re-types (cat, roll), and gives the same values as outside autocast."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 8)
    pos = torch.randint(0, 9, (2, 6, 2))
    table = RoPE2D(100.0).table(pos, 8, dtype=torch.float16)
    plain = apply_rotary(x, table)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = apply_rotary(x, table)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, plain)
    torch.testing.assert_close(plain.double(), explicit_rope(x.double(), pos), rtol=0, atol=2e-2)  # float16 maths


def test_rope_leaves_negative_positions_unrotated():
    x = torch.randn(1, 2, 3, 8)
    pos = torch.tensor([[[0, 1], [-1, -1], [2, 3]]])
    out = apply_rotary(x, RoPE2D().table(pos, 8))
    assert torch.equal(out[:, :, 1], x[:, :, 1])
    assert not torch.allclose(out[:, :, 2], x[:, :, 2])


def test_rope_scores_depend_only_on_relative_position():
    torch.manual_seed(1)
    q, k = torch.randn(1, 1, 5, 16, dtype=torch.float64), torch.randn(1, 1, 5, 16, dtype=torch.float64)
    pos = torch.randint(0, 6, (1, 5, 2))
    rope = RoPE2D(100.0)

    def scores(p):
        t = rope.table(p, 16)
        return apply_rotary(q, t) @ apply_rotary(k, t).transpose(-1, -2)

    torch.testing.assert_close(scores(pos), scores(pos + torch.tensor([3, 7])), rtol=1e-5, atol=1e-5)


def test_rope_rejects_head_dim_not_divisible_by_four():
    with pytest.raises(ValueError, match="divisible by 4"):
        RoPE2D().table(torch.zeros(1, 2, 2, dtype=torch.long), 6)


def test_patch_positions_are_row_major_row_col_pairs():
    pos = patch_positions(2, 2, 3)
    assert pos.shape == (2, 6, 2)
    assert pos[0].tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]


def _explicit_attention(q, k, v):
    scale = q.shape[-1] ** -0.5
    return torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1) @ v


def test_self_attention_is_softmax_with_head_dim_scale_and_rope_on_q_k():
    torch.manual_seed(2)
    attn = Attention(16, num_heads=2, rope=RoPE2D(100.0)).double()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    pos = patch_positions(2, 2, 3)
    q, k, v = attn.qkv(x).reshape(2, 6, 3, 2, 8).permute(2, 0, 3, 1, 4)
    q, k = explicit_rope(q, pos), explicit_rope(k, pos)
    expected = attn.proj(_explicit_attention(q, k, v).transpose(1, 2).reshape(2, 6, 16))
    torch.testing.assert_close(attn(x, pos), expected, rtol=1e-6, atol=1e-6)


def test_cross_attention_rotates_keys_with_the_other_views_positions():
    torch.manual_seed(3)
    attn = CrossAttention(16, num_heads=2, rope=RoPE2D(100.0)).double()
    x, y = torch.randn(1, 6, 16, dtype=torch.float64), torch.randn(1, 6, 16, dtype=torch.float64)
    qpos, kpos = patch_positions(1, 2, 3), patch_positions(1, 3, 2)

    def heads(t):
        return t.reshape(1, 6, 2, 8).transpose(1, 2)

    q = explicit_rope(heads(attn.projq(x)), qpos)
    k = explicit_rope(heads(attn.projk(y)), kpos)
    expected = attn.proj(_explicit_attention(q, k, heads(attn.projv(y))).transpose(1, 2).reshape(1, 6, 16))
    torch.testing.assert_close(attn(x, y, y, qpos, kpos), expected, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(attn(x, y, y, qpos, qpos), expected)
