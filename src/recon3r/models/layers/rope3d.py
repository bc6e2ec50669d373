"""Continuous 3D rotary position embedding: tokens placed at real 3D points (Point3R's `RoPE3D<base>`).

Convention (the official `RoPE3DContinuous`, reproduced literally because released weights depend on it):
- a head of dimension h is split into three parts [0, D), [D, 2D), [2D, h) with D = ⌊h/3⌋ (the last
  part takes the remainder), rotated by the point's x, y and z respectively;
- a part of size n uses the angles θ_k = p · b^(-2k/n), k < ⌈n/2⌉ (float32), laid out [θ; θ] and
  cut to n entries, and "rotate half" in torch's `chunk(2)` sense: the first ⌈n/2⌉ channels against
  the last ⌊n/2⌋ (for odd n the pairs do not line up as in a textbook rotation);
- this is done for the four bases b = 10, 100, 1000 and 10000 and the four results are averaged.
  The base in the config string ('RoPE3D100') is stored but never used.

Each result is x·cos_b + rotate_half(x)·sin_b, linear in x, so the mean is one "rotation" with the
averaged tables: `table` returns them as a `RotaryTable` (with the channel pairing in `partner`),
which the shared `Attention` / `CrossAttention` / `DecoderBlock` layers apply unchanged. The average
of rotations is not itself a rotation: norms are not preserved, as in the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from recon3r.models.layers.rope import RotaryTable

#: The bases Point3R averages over.
OFFICIAL_BASES = (10.0, 100.0, 1000.0, 10000.0)


def axis_parts(head_dim: int) -> list[tuple[int, int]]:
    """(offset, size) of the x, y and z parts of a head: sizes ⌊h/3⌋, ⌊h/3⌋, h − 2⌊h/3⌋."""
    third = head_dim // 3
    return [(0, third), (third, third), (2 * third, head_dim - 2 * third)]


class RoPE3D(nn.Module):
    """Multi-base continuous 3D RoPE. Holds no parameters or buffers.

    Args:
        bases: the bases whose rotations are averaged (official: 10, 100, 1000, 10000).
    """

    def __init__(self, bases: Sequence[float] = OFFICIAL_BASES):
        super().__init__()
        if not bases or any(b <= 0 for b in bases):
            raise ValueError(f"3D RoPE needs positive bases, got {list(bases)}")
        self.bases = tuple(float(b) for b in bases)

    def extra_repr(self) -> str:
        return f"bases={self.bases}"

    def table(self, positions: torch.Tensor, head_dim: int) -> RotaryTable:
        """Averaged cos/sin tables (B, 1, N, head_dim) for `positions` (B, N, 3), float32."""
        if positions.ndim != 3 or positions.shape[-1] != 3:
            raise ValueError(f"positions must be (B, N, 3), got {tuple(positions.shape)}")
        if head_dim < 3:
            raise ValueError(f"3D RoPE needs a head dimension of at least 3, got {head_dim}")
        device = positions.device
        pos = positions.to(torch.float32)
        cos_parts, sin_parts, partner = [], [], []
        for axis, (offset, size) in enumerate(axis_parts(head_dim)):
            first = math.ceil(size / 2)  # channels in the first chunk
            exponents = torch.arange(0, size, 2, device=device).float() / size  # (first,)
            cos = sin = None
            for base in self.bases:
                angles = pos[..., axis, None] * (1.0 / (base**exponents))  # (B, N, first)
                angles = torch.cat((angles, angles), dim=-1)[..., :size]
                cos = angles.cos() if cos is None else cos + angles.cos()
                sin = angles.sin() if sin is None else sin + angles.sin()
            cos, sin = cos / len(self.bases), sin / len(self.bases)
            # rotate_half(x) = [-x[first:], x[:first]]: the sign goes into sin, the gather into partner.
            second = size - first
            sign = torch.cat((-torch.ones(second, device=device), torch.ones(first, device=device)))
            cos_parts.append(cos)
            sin_parts.append(sin * sign)
            partner.append(torch.cat((torch.arange(first, size, device=device), torch.arange(first, device=device)))
                           + offset)
        cos = torch.cat(cos_parts, dim=-1)[:, None]
        sin = torch.cat(sin_parts, dim=-1)[:, None]
        return RotaryTable(cos, sin, torch.cat(partner))


def resolve_rope3d(pos_embed_3d: str) -> RoPE3D:
    """The 3D RoPE named by a reference `pos_embed_3d` string such as 'RoPE3D100' (its base is unused)."""
    if not isinstance(pos_embed_3d, str) or not pos_embed_3d.startswith("RoPE3D"):
        raise ValueError(f"pos_embed_3d={pos_embed_3d!r} is not supported: Point3R needs 'RoPE3D<base>', e.g. 'RoPE3D100'")
    try:
        float(pos_embed_3d[len("RoPE3D"):])
    except ValueError:
        raise ValueError(f"pos_embed_3d={pos_embed_3d!r}: expected 'RoPE3D<base>', e.g. 'RoPE3D100'") from None
    return RoPE3D()
