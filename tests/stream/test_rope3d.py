"""RoPE3D: a rotation (norm-preserving) whose attention scores depend only on position differences."""

import pytest
import torch

from recon3r.models.layers.attention import CrossAttention
from recon3r.models.layers.rope import apply_rotary
from recon3r.models.layers.rope3d import RoPE3D


def _rotate(rope, x, pos):
    return apply_rotary(x, rope.table(pos, x.shape[-1]))


@pytest.mark.parametrize("head_dim", [8, 12, 32])
def test_rotation_preserves_norms_in_float64(head_dim):
    gen = torch.Generator().manual_seed(0)
    rope = RoPE3D(0.1, 10.0)
    x = torch.randn(2, 3, 5, head_dim, dtype=torch.float64, generator=gen)
    pos = torch.randn(2, 5, 3, dtype=torch.float64, generator=gen) * 4
    y = _rotate(rope, x, pos)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(y, x)  # it does rotate


def test_inner_products_depend_only_on_position_differences_in_float64():
    gen = torch.Generator().manual_seed(1)
    rope = RoPE3D(0.05, 20.0)
    q = torch.randn(1, 2, 4, 24, dtype=torch.float64, generator=gen)
    k = torch.randn(1, 2, 4, 24, dtype=torch.float64, generator=gen)
    p = torch.randn(1, 4, 3, dtype=torch.float64, generator=gen)
    p2 = torch.randn(1, 4, 3, dtype=torch.float64, generator=gen)
    shift = torch.tensor([0.7, -2.3, 5.1], dtype=torch.float64)
    scores = _rotate(rope, q, p) @ _rotate(rope, k, p2).transpose(-1, -2)
    shifted = _rotate(rope, q, p + shift) @ _rotate(rope, k, p2 + shift).transpose(-1, -2)
    torch.testing.assert_close(shifted, scores, rtol=1e-10, atol=1e-10)
    moved_one = _rotate(rope, q, p + shift) @ _rotate(rope, k, p2).transpose(-1, -2)
    assert not torch.allclose(moved_one, scores, atol=1e-3)  # but not on absolute positions of one side


def test_every_axis_moves_the_embedding():
    rope = RoPE3D()
    x = torch.randn(1, 1, 1, 12, dtype=torch.float64)
    base = _rotate(rope, x, torch.zeros(1, 1, 3, dtype=torch.float64))
    torch.testing.assert_close(base, x)  # the origin is the identity
    for axis in range(3):
        pos = torch.zeros(1, 1, 3, dtype=torch.float64)
        pos[..., axis] = 0.3
        assert not torch.allclose(_rotate(rope, x, pos), x)


def test_plugs_into_the_shared_cross_attention():
    torch.manual_seed(0)
    rope = RoPE3D()
    attn = CrossAttention(16, num_heads=2, rope=rope)  # type: ignore[arg-type]
    q, kv = torch.randn(1, 5, 16), torch.randn(1, 7, 16)
    qpos, kpos = torch.randn(1, 5, 3), torch.randn(1, 7, 3)
    out = attn(q, kv, kv, qpos, kpos)
    shifted = attn(q, kv, kv, qpos + 3.0, kpos + 3.0)
    torch.testing.assert_close(out, shifted, rtol=1e-4, atol=1e-5)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="divisible by 4"):
        RoPE3D().table(torch.zeros(1, 2, 3), 6)
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        RoPE3D().table(torch.zeros(1, 2, 2), 8)
    with pytest.raises(ValueError, match="wavelength"):
        RoPE3D(1.0, 0.5)
