"""Pretrained-style image encoders, reusable by any model (official parameter names)."""

from recon3r.models.encoders.dinov2 import (
    DINOV2_ARCHS,
    DinoV2Config,
    DinoV2Encoder,
    DinoVisionTransformer,
    interpolate_pos_embed,
    resolve_dinov2_arch,
)

__all__ = [
    "DINOV2_ARCHS",
    "DinoV2Config",
    "DinoV2Encoder",
    "DinoVisionTransformer",
    "interpolate_pos_embed",
    "resolve_dinov2_arch",
]
