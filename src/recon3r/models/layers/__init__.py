"""Reusable transformer layers: RoPE, attention, MLP, encoder/decoder blocks, patch embeddings."""

from recon3r.models.layers.attention import Attention, CrossAttention, rotary_for
from recon3r.models.layers.blocks import Block, DecoderBlock, LayerScale, layer_norm
from recon3r.models.layers.mlp import Mlp
from recon3r.models.layers.patch_embed import (
    PATCH_EMBEDS,
    ManyAR_PatchEmbed,
    PatchEmbedDust3R,
    make_patch_embed,
)
from recon3r.models.layers.rope import RoPE2D, RotaryTable, apply_rotary, patch_positions, resolve_rope

__all__ = [
    "PATCH_EMBEDS",
    "Attention",
    "Block",
    "CrossAttention",
    "DecoderBlock",
    "LayerScale",
    "ManyAR_PatchEmbed",
    "Mlp",
    "PatchEmbedDust3R",
    "RoPE2D",
    "RotaryTable",
    "apply_rotary",
    "layer_norm",
    "make_patch_embed",
    "patch_positions",
    "resolve_rope",
    "rotary_for",
]
