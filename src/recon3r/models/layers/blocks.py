"""Pre-norm transformer blocks shared by the pair model (DUSt3R) and its descendants.

- `Block` (encoder): x + attn(norm1 x), then + mlp(norm2 x); with `init_values`, each branch is
  scaled by a learned per-channel LayerScale (`ls1.gamma`, `ls2.gamma`, as DINOv2 / timm name it).
- `DecoderBlock`: x + selfattn(norm1 x), then + crossattn(norm2 x, norm_y y), then + mlp(norm3 x).
- `ModulatedBlock`: an encoder block whose two norms are adaLN-modulated by a condition vector
  (`ModulatedLayerNorm`: LN(x)·(1 + scale) + shift, (shift, scale) = Linear(SiLU(c))).

LayerNorm eps is 1e-6 everywhere (`layer_norm`). Positions are (B, N, 2) integer (row, col)
tensors or precomputed `RotaryTable`s (compute once per stack with `RoPE2D.table`).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from recon3r.models.layers.attention import Attention, CrossAttention, Positions
from recon3r.models.layers.mlp import Mlp
from recon3r.models.layers.rope import RoPE2D

#: The norm every CroCo / DUSt3R block uses.
layer_norm = partial(nn.LayerNorm, eps=1e-6)


class LayerScale(nn.Module):
    """x (..., C) · gamma (C,): the learned per-channel residual scale of CaiT / DINOv2."""

    def __init__(self, dim: int, init_values: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Encoder block. `forward(x, pos)`: x (B, N, C) → (B, N, C).

    `init_values`: None (no LayerScale, CroCo / DUSt3R) or the initial LayerScale value (DINOv2).
    `proj_bias` / `ffn_bias`: biases of the attention output projection and of the MLP.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        rope: RoPE2D | None = None,
        *,
        init_values: float | None = None,
        proj_bias: bool = True,
        ffn_bias: bool = True,
    ):
        super().__init__()
        # Registration order fixes the state_dict order (DINOv2: norm1, attn, ls1, norm2, mlp, ls2).
        self.norm1 = layer_norm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, rope=rope, proj_bias=proj_bias)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=ffn_bias)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def forward(self, x: torch.Tensor, pos: Positions = None) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), pos))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DecoderBlock(nn.Module):
    """Decoder block: self-attention, cross-attention to the other view's tokens, MLP.

    `forward(x, y, xpos, ypos)`: x (B, Nx, C) this view's tokens, y (B, Ny, C) the other view's
    (the "memory"), with their positions; returns the new x. With `norm_mem` the memory is
    normalised by `norm_y` before cross-attention (reference `norm_im2_in_dec`).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_mem: bool = True,
        rope: RoPE2D | None = None,
    ):
        super().__init__()
        # Registration order fixes the state_dict order of the official checkpoints.
        self.norm1 = layer_norm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, rope=rope)
        self.cross_attn = CrossAttention(dim, num_heads, qkv_bias=qkv_bias, rope=rope)
        self.norm2 = layer_norm(dim)
        self.norm3 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm_y = layer_norm(dim) if norm_mem else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        xpos: Positions = None,
        ypos: Positions = None,
        self_mask: torch.Tensor | None = None,
        cross_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Optional boolean masks (True = may attend): `self_mask` (B, 1, Nx, Nx), `cross_mask` (B, 1, Nx, Ny)."""
        x = x + self.attn(self.norm1(x), xpos, self_mask)
        memory = self.norm_y(y)
        x = x + self.cross_attn(self.norm2(x), memory, memory, xpos, ypos, cross_mask)
        return x + self.mlp(self.norm3(x))


class ModulatedLayerNorm(nn.Module):
    """adaLN: LN(x)·(1 + scale) + shift with (shift, scale) = Linear(SiLU(cond)) (shift first).

    `forward(x, cond)`: x (B, N, C), cond (B, C) → (B, N, C). Names: `norm`, `mlp.1` (CUT3R's `ModLN`).
    """

    def __init__(self, dim: int, cond_dim: int | None = None):
        super().__init__()
        self.norm = layer_norm(dim)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim or dim, 2 * dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.mlp(cond).chunk(2, dim=-1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None]


class ModulatedBlock(nn.Module):
    """Encoder block with adaLN-modulated norms. `forward(x, cond, pos)`: x (B, N, C), cond (B, C)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 rope: RoPE2D | None = None):
        super().__init__()
        self.norm1 = ModulatedLayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, rope=rope)
        self.norm2 = ModulatedLayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, pos: Positions = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x, cond), pos)
        return x + self.mlp(self.norm2(x, cond))


def init_transformer_weights(module: nn.Module) -> None:
    """CroCo's initialisation of one module: Xavier-uniform Linear weights, zero biases, unit LayerNorms.

    Use with `model.apply(...)` or a loop over the modules to initialise; other module types are left alone.
    """
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
