"""Patch embeddings, post-processing, the linear head's pixel order and the landscape/portrait wrapper."""

from __future__ import annotations

import math

import pytest
import torch

from recon3r.models.heads import LinearPts3d, apply_head, reg_dense_conf, reg_dense_depth
from recon3r.models.layers import ManyAR_PatchEmbed, PatchEmbedDust3R

INF = math.inf


def test_manyar_embeds_portrait_samples_in_their_true_orientation():
    torch.manual_seed(0)
    embed = ManyAR_PatchEmbed((32, 48), 16, 3, 8)
    img = torch.randn(3, 3, 32, 48)
    true_shape = torch.tensor([[32, 48], [48, 32], [32, 48]])
    tokens, pos = embed(img, true_shape)
    plain = PatchEmbedDust3R((32, 48), 16, 3, 8)
    plain.load_state_dict(embed.state_dict())
    land_tokens, land_pos = plain(img[0:1])
    port_tokens, port_pos = plain(img[1:2].transpose(-1, -2))
    torch.testing.assert_close(tokens[0:1], land_tokens)
    torch.testing.assert_close(tokens[1:2], port_tokens)
    assert torch.equal(pos[1:2], port_pos) and torch.equal(pos[0:1], land_pos)
    assert pos[1, -1].tolist() == [2, 1]  # 3 rows x 2 cols for a 48x32 portrait


def test_manyar_refuses_portrait_tensors_and_missing_true_shape():
    embed = ManyAR_PatchEmbed(32, 16, 3, 8)
    with pytest.raises(ValueError, match="landscape"):
        embed(torch.zeros(1, 3, 48, 32), torch.tensor([[48, 32]]))
    with pytest.raises(ValueError, match="true_shape"):
        embed(torch.zeros(1, 3, 32, 48))


def test_patch_embed_refuses_sizes_not_multiple_of_patch():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        PatchEmbedDust3R(32, 16, 3, 8)(torch.zeros(1, 3, 30, 32))


def test_exp_depth_maps_norm_through_expm1_and_keeps_direction():
    xyz = torch.tensor([[0.3, -0.4, 1.2], [0.0, 0.0, 0.0]], dtype=torch.float64)
    out = reg_dense_depth(xyz, ("exp", -INF, INF))
    d = xyz[0].norm()
    torch.testing.assert_close(out[0], xyz[0] / d * torch.expm1(d))
    assert torch.equal(out[1], torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(reg_dense_depth(xyz, ("square", -INF, INF))[0], xyz[0] * d)
    with pytest.raises(ValueError, match="bounds"):
        reg_dense_depth(xyz, ("exp", 0.0, INF))


def test_confidence_modes():
    x = torch.tensor([-1.0, 0.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(reg_dense_conf(x, ("exp", 1.0, INF)), 1 + x.exp())
    torch.testing.assert_close(reg_dense_conf(x, ("exp", 1.0, 5.0)), 1 + x.exp().clip(max=4.0))
    torch.testing.assert_close(reg_dense_conf(x, ("sigmoid", 0.5, 2.0)), 1.5 * torch.sigmoid(x) + 0.5)


def test_linear_head_pixel_order_is_channel_then_row_then_col():
    p = 4
    head = LinearPts3d(dec_embed_dim=2, patch_size=p, depth_mode=("linear", -INF, INF), conf_mode=("exp", 0.0, INF))
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.copy_(torch.arange(4 * p * p, dtype=torch.float32))
    out = head([torch.zeros(1, 1, 2)], (p, p))
    for c in range(3):
        for dy in range(p):
            for dx in range(p):
                assert out["pts3d"][0, dy, dx, c] == c * p * p + dy * p + dx
    torch.testing.assert_close(out["conf"][0, 1, 2], torch.tensor(float(3 * p * p + 1 * p + 2)).exp())


class _GridHead(torch.nn.Module):
    """A head whose output encodes the image size it was run at and the sample's tokens."""

    def forward(self, tokens, image_size):
        H, W = image_size
        B = tokens[-1].shape[0]
        base = tokens[-1][:, :1, :1].reshape(B, 1, 1, 1)
        grid = torch.arange(H * W, dtype=torch.float32).reshape(1, H, W, 1)
        return {"pts3d": (base + grid).expand(B, H, W, 3), "conf": (base[..., 0] + grid[..., 0]).expand(B, H, W)}


def test_landscape_wrapper_transposes_portrait_samples_back_to_stored_layout():
    tokens = [torch.arange(3, dtype=torch.float32).reshape(3, 1, 1)]
    true_shape = torch.tensor([[32, 48], [48, 32], [32, 48]])
    out = apply_head(_GridHead(), tokens, true_shape, landscape_only=True)
    assert out["pts3d"].shape == (3, 32, 48, 3)
    portrait_alone = _GridHead()([tokens[0][1:2]], (48, 32))["pts3d"].transpose(1, 2)
    torch.testing.assert_close(out["pts3d"][1:2], portrait_alone)
    torch.testing.assert_close(out["pts3d"][2:3], _GridHead()([tokens[0][2:3]], (32, 48))["pts3d"])


def test_landscape_off_runs_at_true_shape_and_needs_one_shape_per_view():
    tokens = [torch.zeros(2, 1, 1)]
    out = apply_head(_GridHead(), tokens, torch.tensor([[48, 32], [48, 32]]), landscape_only=False)
    assert out["pts3d"].shape == (2, 48, 32, 3)
    with pytest.raises(ValueError, match="same true_shape"):
        apply_head(_GridHead(), tokens, torch.tensor([[48, 32], [32, 48]]), landscape_only=False)
