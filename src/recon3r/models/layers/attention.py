"""Multi-head self- and cross-attention with optional 2D RoPE, through `scaled_dot_product_attention`.

Parameter names follow CroCo: self-attention has one `qkv` linear (channel layout [q | k | v],
heads contiguous inside each) and `proj`; cross-attention has `projq`, `projk`, `projv` and `proj`.
Attention is plain softmax(q kᵀ / sqrt(head_dim)) v; RoPE rotates q and k, never v.
An optional boolean `attn_mask` (broadcastable to (B, heads, Nq, Nk), True = may attend) is passed
to `scaled_dot_product_attention`; every query row must keep at least one key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recon3r.models.layers.rope import RoPE2D, RotaryTable, apply_rotary

Positions = torch.Tensor | RotaryTable | None


def rotary_for(rope: RoPE2D | None, pos: Positions, head_dim: int) -> RotaryTable | None:
    """Turn raw (B, N, 2) positions into a `RotaryTable` (no-op for a table; None without RoPE)."""
    if rope is None or pos is None:
        return None
    if isinstance(pos, RotaryTable):
        return pos
    return rope.table(pos, head_dim)


class Attention(nn.Module):
    """Self-attention. `forward(x, pos, attn_mask)`: x (B, N, C); pos (B, N, 2) positions or a `RotaryTable`."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True, rope: RoPE2D | None = None,
                 proj_bias: bool = True):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"embedding dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.rope = rope

    def forward(self, x: torch.Tensor, pos: Positions = None, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        v = qkv[2]  # (B, heads, N, head_dim), like q and k
        table = rotary_for(self.rope, pos, self.head_dim)
        if table is not None:
            q, k = apply_rotary(qkv[:2], table).unbind(0)  # q and k share the table: one pass for both
        else:
            q, k = qkv[0], qkv[1]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class CrossAttention(nn.Module):
    """Cross-attention from `query` (B, Nq, C) to `key`/`value` (B, Nk, C).

    `qpos` are the query view's positions and `kpos` the other view's (they differ when the two
    views have different token grids).
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True, rope: RoPE2D | None = None):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"embedding dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.projq = nn.Linear(dim, dim, bias=qkv_bias)
        self.projk = nn.Linear(dim, dim, bias=qkv_bias)
        self.projv = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.rope = rope

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        return x.reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        qpos: Positions = None,
        kpos: Positions = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        B, Nq, C = query.shape
        q = self._heads(self.projq(query))
        k = self._heads(self.projk(key))
        v = self._heads(self.projv(value))
        qtable = rotary_for(self.rope, qpos, self.head_dim)
        ktable = rotary_for(self.rope, kpos, self.head_dim)
        if qtable is not None:
            q = apply_rotary(q, qtable)
        if ktable is not None:
            k = apply_rotary(k, ktable)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(B, Nq, C))
