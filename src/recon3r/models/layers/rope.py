"""2D rotary position embedding (RoPE) in pure PyTorch, as used by CroCo / DUSt3R.

Convention (reference `RoPE2D`, base 100, F0 = 1):
- a token's position is an integer (row, col) pair;
- per head, the first half of the channels is rotated by the row, the second half by the column;
- within a half of size d, channel i is paired with channel i + d/2 ("split-half" rotate);
- the frequencies are 1 / base^(2i/d) for i < d/2.

Tokens whose position is negative (e.g. (-1, -1)) are left unrotated: this lets a model add
tokens that carry no image position (a caption token) to a sequence of patch tokens.
The cos/sin tables are computed once per position tensor (`RoPE2D.table`) and shared by every
attention layer of a stack, so no per-layer or per-token Python work is done.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class RotaryTable(NamedTuple):
    """Precomputed rotation for one set of positions.

    `cos` and `sin` are (B, 1, N, head_dim), broadcast over heads; `sin` already carries the
    sign of the split-half rotation, so `x * cos + partner(x) * sin` rotates `x`.
    `partner` is the channel gather (head_dim,) that pairs channels; None means the 2D layout
    (pair (i, i + d/4) inside each half of the head). `compute_dtype`, when set, is the dtype the
    rotation is computed in (q/k are cast to it and back: CroCo's float16 encoder RoPE).
    """

    cos: torch.Tensor
    sin: torch.Tensor
    partner: torch.Tensor | None = None
    compute_dtype: torch.dtype | None = None


class RoPE2D(nn.Module):
    """2D RoPE with a configurable base (`RoPE100` → base 100). Holds no parameters or buffers."""

    def __init__(self, base: float = 100.0, f0: float = 1.0):
        super().__init__()
        self.base = float(base)
        self.f0 = float(f0)

    def extra_repr(self) -> str:
        return f"base={self.base:g}"

    def inverse_frequencies(self, half_dim: int, device: torch.device | None = None) -> torch.Tensor:
        """(half_dim/2,) float32 frequencies for one axis, computed as the reference does (bit-exact)."""
        exponents = torch.arange(0, half_dim, 2, device=device).float() / half_dim
        return 1.0 / (self.base**exponents)

    def table(self, positions: torch.Tensor, head_dim: int, dtype: torch.dtype = torch.float32) -> RotaryTable:
        """Cos/sin tables for `positions` (B, N, 2) integer (row, col); negative = no rotation.

        Returns tables of shape (B, 1, N, head_dim). float32 tables are cast to the query dtype
        when applied. `dtype=torch.float16` reproduces the PyTorch fallback of CroCo/CUT3R run on
        float16 q/k: the float32 angles are rounded to float16, cos/sin are evaluated on them in
        float16, and the rotation itself is computed in float16 (`compute_dtype`).
        """
        if head_dim % 4 != 0:
            raise ValueError(f"2D RoPE needs a head dimension divisible by 4, got {head_dim}")
        if positions.ndim != 3 or positions.shape[-1] != 2:
            raise ValueError(f"positions must be (B, N, 2), got {tuple(positions.shape)}")
        inv_freq = self.inverse_frequencies(head_dim // 2, positions.device)  # (Q,)
        pos = positions.to(torch.float32)
        if self.f0 != 1.0:
            pos = pos * self.f0
        angles = (pos[..., None] * inv_freq).to(dtype)  # (B, N, 2, Q): [row, col] x frequency
        # Values of `dtype`, laid out in float32 (exactly) and cast back at the end: stack/cat of float16
        # tensors would fail under a bfloat16 autocast (mixed-precision training).
        cos, sin = angles.cos().float(), angles.sin().float()
        # Layout per head: [row: cos q0 | cos q1] [col: cos q0 | cos q1], the sign of the
        # split-half rotation folded into sin: [-sin, +sin] per axis.
        cos = torch.stack((cos, cos), dim=-2)  # (B, N, 2, 2, Q)
        sin = torch.stack((-sin, sin), dim=-2)
        unrotated = (positions < 0).any(dim=-1)[..., None, None, None]  # (B, N, 1, 1, 1)
        cos = torch.where(unrotated, torch.ones_like(cos), cos)
        sin = torch.where(unrotated, torch.zeros_like(sin), sin)
        compute = None if dtype == torch.float32 else dtype
        return RotaryTable(cos.flatten(-3)[:, None].to(dtype), sin.flatten(-3)[:, None].to(dtype), None, compute)


def apply_rotary(x: torch.Tensor, table: RotaryTable) -> torch.Tensor:
    """Rotate `x` (..., B, heads, N, head_dim) with a `RotaryTable` for the same B and N.

    Leading dimensions broadcast: q and k stacked as (2, B, heads, N, head_dim) rotate in one pass.
    """
    if table.compute_dtype is not None and table.compute_dtype != x.dtype:
        return apply_rotary(x.to(table.compute_dtype), table).to(x.dtype)
    cos = table.cos.to(x.dtype)
    sin = table.sin.to(x.dtype)
    if table.partner is None:
        # (a, b) -> (b, a) inside each axis half, by two slice copies: about 2x faster than flip(-2), and
        # unlike cat or roll allowed on float16 q/k under a CPU bfloat16 autocast.
        quarters = x.unflatten(-1, (2, 2, x.shape[-1] // 4))
        swapped = torch.empty_like(quarters)
        swapped[..., 0, :] = quarters[..., 1, :]
        swapped[..., 1, :] = quarters[..., 0, :]
        partner = swapped.flatten(-3)
    else:
        partner = x.index_select(-1, table.partner)
    return x * cos + partner * sin


def prepend_unrotated(table: RotaryTable, count: int) -> RotaryTable:
    """`table` with `count` identity rows (cos 1, sin 0) in front: tokens that carry no position.

    For example a pose token placed before the patch tokens of a sequence.
    """
    B, _, _, D = table.cos.shape
    ones = table.cos.new_ones(B, 1, count, D)
    zeros = table.sin.new_zeros(B, 1, count, D)
    return table._replace(cos=torch.cat((ones, table.cos), dim=2), sin=torch.cat((zeros, table.sin), dim=2))


def patch_positions(batch: int, rows: int, cols: int, device: torch.device | None = None) -> torch.Tensor:
    """(batch, rows*cols, 2) int64 (row, col) positions of a patch grid in row-major token order."""
    r = torch.arange(rows, device=device)
    c = torch.arange(cols, device=device)
    grid = torch.stack(torch.meshgrid(r, c, indexing="ij"), dim=-1).reshape(rows * cols, 2)
    return grid[None].expand(batch, -1, -1)


class NoPosition(nn.Module):
    """`pos_embed='none'`: tokens carry no position at all; attention never rotates q or k.

    `table` returns None, which every attention layer reads as "no RoPE". This is what the
    multimodal seed trained when its model string named no `pos_embed` (see
    `AsymmetricCroCo3DStereoAndText`); it is kept to reproduce that, not recommended.
    """

    base = None

    def table(self, positions: torch.Tensor, head_dim: int) -> None:
        return None


def resolve_rope(pos_embed: str) -> RoPE2D | NoPosition:
    """Build the position module named by a `pos_embed` string: 'RoPE100' (2D RoPE, base 100), or 'none'."""
    if pos_embed == "none":
        return NoPosition()
    if not isinstance(pos_embed, str) or not pos_embed.startswith("RoPE"):
        raise ValueError(
            f"pos_embed={pos_embed!r} is not supported: only 2D RoPE ('RoPE100', ...) is implemented "
            "(the reference's 'cosine' absolute embedding is not used by any DUSt3R checkpoint)"
        )
    try:
        base = float(pos_embed[len("RoPE") :])
    except ValueError:
        raise ValueError(f"pos_embed={pos_embed!r}: expected 'RoPE<base>', e.g. 'RoPE100'") from None
    return RoPE2D(base)
