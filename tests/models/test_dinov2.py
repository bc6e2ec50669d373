"""The DINOv2 encoder: named architectures, position-embedding resizing, outputs, freezing."""

from __future__ import annotations

import pytest
import torch

from recon3r.errors import ConfigError
from recon3r.models.encoders import (
    DINOV2_ARCHS,
    DinoV2Config,
    DinoV2Encoder,
    interpolate_pos_embed,
    resolve_dinov2_arch,
)

TINY = DinoV2Config(img_size=42, patch_size=14, embed_dim=32, depth=2, num_heads=2)


def test_named_architectures_and_explicit_ones():
    assert resolve_dinov2_arch("dinov2_vitb14_reg").embed_dim == 768
    assert resolve_dinov2_arch("dinov2_vits14_reg").num_register_tokens == 4
    assert resolve_dinov2_arch("dinov2_vits14").interpolate_offset == 0.1
    assert resolve_dinov2_arch("anything", {"embed_dim": 64, "num_heads": 4}).embed_dim == 64
    with pytest.raises(ConfigError, match="encoder_arch"):
        resolve_dinov2_arch("dinov2_vith14")
    with pytest.raises(ConfigError, match="swiglu"):
        DinoV2Config(ffn_layer="swiglu")
    assert all(arch.grid_size == 37 for arch in DINOV2_ARCHS.values())


def test_pos_embed_is_kept_when_the_grid_matches_and_a_constant_table_stays_constant():
    table = torch.randn(1, 1 + 9, 8)
    assert interpolate_pos_embed(table, 3, 3, antialias=True, offset=0.0) is table
    constant = torch.full((1, 1 + 25, 4), 0.7)
    for rows, cols in ((2, 2), (7, 7), (3, 6)):
        resized = interpolate_pos_embed(constant, rows, cols, antialias=True, offset=0.0)
        assert resized.shape == (1, 1 + rows * cols, 4)
        torch.testing.assert_close(resized, torch.full_like(resized, 0.7))  # renormalised taps


def test_antialiased_resize_differs_from_plain_bicubic():
    table = torch.randn(1, 1 + 49, 3, generator=torch.Generator().manual_seed(0))
    smooth = interpolate_pos_embed(table, 4, 4, antialias=True, offset=0.0)
    plain = interpolate_pos_embed(table, 4, 4, antialias=False, offset=0.0)
    torch.testing.assert_close(smooth[:, 0], table[:, 0])  # CLS untouched
    assert (smooth - plain).abs().max() > 1e-3


def test_encoder_returns_cls_and_patch_tokens_without_registers_for_non_square_images():
    torch.manual_seed(0)
    encoder = DinoV2Encoder(TINY).eval()
    image = torch.rand(2, 3, 28, 56)
    features = encoder.model.forward_features(image)
    assert features["x_prenorm"].shape == (2, 1 + 4 + 2 * 4, 32)
    assert features["pos_embed"].shape == (1, 1 + 8, 32)
    tokens = encoder(image)
    assert tokens.shape == (2, 1 + 8, 32)
    torch.testing.assert_close(tokens[:, 1:], features["x_norm_patchtokens"])
    names = set(encoder.state_dict())
    assert {"model.register_tokens", "model.blocks.1.ls2.gamma", "model.patch_embed.proj.weight"} <= names
    assert not any("mask_token" in n for n in names)


def test_frozen_encoder_stays_in_eval_mode_without_gradients():
    encoder = DinoV2Encoder(TINY, freeze=True).train()
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.parameters())
