"""Transformer blocks conditioned on a vector by modulated LayerNorms (adaLN), as LRM decodes triplanes.

- `ModLN(x, c)` = LayerNorm(x)·(1 + scale) + shift, with (shift, scale) = chunk₂(Linear(SiLU(c)))
  (shift first; parameters `norm.*`, `mlp.1.*`);
- `ConditionModulationBlock`: x += CrossAttn(ModLN₁(x, c), cond); x += SelfAttn(ModLN₂(x, c));
  x += MLP(ModLN₃(x, c)). Attentions are `nn.MultiheadAttention` without biases (names
  `cross_attn.*`, `self_attn.*`; the cross-attention packs q/k/v into `in_proj_weight` only when
  the condition width equals the model width, PyTorch's own rule). MLP: Linear(D, 4D), exact
  GELU, Linear(4D, D) at indices `mlp.0`, `mlp.3`;
- `ModulatedTransformer`: the blocks (`layers.K`) and a final LayerNorm (`norm`).
LayerNorms are affine with eps 1e-6.
"""

from __future__ import annotations

from torch import Tensor, nn

from recon3r.models.layers.blocks import layer_norm


class ModLN(nn.Module):
    """x (B, N, D), mod (B, E) → LayerNorm(x)·(1 + scale) + shift."""

    def __init__(self, dim: int, mod_dim: int):
        super().__init__()
        self.norm = layer_norm(dim)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(mod_dim, 2 * dim))

    def forward(self, x: Tensor, mod: Tensor) -> Tensor:
        shift, scale = self.mlp(mod).chunk(2, dim=-1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None]


class ConditionModulationBlock(nn.Module):
    """x (B, N, D), cond (B, Nc, Dc), mod (B, E) → x (B, N, D)."""

    def __init__(self, dim: int, cond_dim: int, mod_dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = ModLN(dim, mod_dim)
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, kdim=cond_dim, vdim=cond_dim, bias=False,
                                                batch_first=True)
        self.norm2 = ModLN(dim, mod_dim)
        self.self_attn = nn.MultiheadAttention(dim, num_heads, bias=False, batch_first=True)
        self.norm3 = ModLN(dim, mod_dim)
        hidden = int(dim * mlp_ratio)
        # Dropout placeholders (p = 0) keep the official indices mlp.0 / mlp.3.
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim),
                                 nn.Dropout(0.0))

    def forward(self, x: Tensor, cond: Tensor, mod: Tensor) -> Tensor:
        x = x + self.cross_attn(self.norm1(x, mod), cond, cond, need_weights=False)[0]
        normed = self.norm2(x, mod)
        x = x + self.self_attn(normed, normed, normed, need_weights=False)[0]
        return x + self.mlp(self.norm3(x, mod))


class ModulatedTransformer(nn.Module):
    """`ConditionModulationBlock`s then a final LayerNorm: x (B, N, D) → (B, N, D)."""

    def __init__(self, num_layers: int, dim: int, cond_dim: int, mod_dim: int, num_heads: int):
        super().__init__()
        self.layers = nn.ModuleList(ConditionModulationBlock(dim, cond_dim, mod_dim, num_heads)
                                    for _ in range(num_layers))
        self.norm = layer_norm(dim)

    def forward(self, x: Tensor, cond: Tensor, mod: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, cond, mod)
        return self.norm(x)
