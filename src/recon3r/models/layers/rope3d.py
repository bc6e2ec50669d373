"""3D rotary position embedding for tokens that live at continuous 3D points (streaming memory).

The 2D RoPE of the pair model rotates channel pairs by integer (row, col) patch positions. Here a
token's position is a real 3D point (x, y, z) in the model's world frame, and each channel pair is
rotated by the angle ω_k · p_a for one axis a ∈ {x, y, z}:

- the head_dim/2 channel pairs are dealt round-robin to the axes (pair j → axis j mod 3, frequency
  index j // 3), so each axis gets about head_dim/6 pairs;
- per axis, the frequencies are hierarchical: wavelengths λ_k = 2π/ω_k are log-spaced from
  `max_wavelength` (coarse: a room) down to `min_wavelength` (fine: a patch), so attention can tell
  apart pointers both across the scene and next to each other.

Because every pair is a 2D rotation by a linear function of the position, the embedding is a
rotation (it preserves norms) and relative: ⟨R(p) q, R(p') k⟩ depends only on p − p'.
The tables use the channel layout of `recon3r.models.layers.rope.apply_rotary` (pair (i, i + d/4)
inside each half of the head), so they plug into the shared `Attention` / `CrossAttention` /
`DecoderBlock` layers unchanged: pass this module as their `rope` and its `RotaryTable`s as positions.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from recon3r.models.layers.rope import RotaryTable


class RoPE3D(nn.Module):
    """3D RoPE over continuous positions. Holds no parameters or buffers.

    Args:
        min_wavelength, max_wavelength: the finest and coarsest wavelengths, in the unit of the
            positions (for recon3r's streaming model: the model's own world unit).
    """

    def __init__(self, min_wavelength: float = 0.05, max_wavelength: float = 20.0):
        super().__init__()
        if not 0 < min_wavelength <= max_wavelength:
            raise ValueError(f"need 0 < min_wavelength <= max_wavelength, got {min_wavelength}, {max_wavelength}")
        self.min_wavelength = float(min_wavelength)
        self.max_wavelength = float(max_wavelength)

    def extra_repr(self) -> str:
        return f"wavelengths=[{self.min_wavelength:g}, {self.max_wavelength:g}]"

    def frequencies(self, head_dim: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per channel pair (head_dim/2,): its axis (int64 in {0, 1, 2}) and angular frequency ω (rad/unit)."""
        if head_dim % 4 != 0:
            raise ValueError(f"3D RoPE needs a head dimension divisible by 4, got {head_dim}")
        pairs = head_dim // 2
        j = torch.arange(pairs, device=device)
        axis, level = j % 3, j // 3
        levels = (pairs + 2) // 3  # frequencies per axis (the first axes get one more when 3 ∤ pairs)
        t = level.to(dtype) / max(levels - 1, 1)
        wavelength = self.max_wavelength * (self.min_wavelength / self.max_wavelength) ** t
        return axis, (2 * math.pi) / wavelength

    def table(self, positions: torch.Tensor, head_dim: int) -> RotaryTable:
        """Cos/sin tables (B, 1, N, head_dim) for `positions` (B, N, 3).

        Float64 positions give float64 tables (for tests); anything else is computed in float32.
        """
        if positions.ndim != 3 or positions.shape[-1] != 3:
            raise ValueError(f"positions must be (B, N, 3), got {tuple(positions.shape)}")
        dtype = torch.float64 if positions.dtype == torch.float64 else torch.float32
        axis, omega = self.frequencies(head_dim, positions.device, dtype)
        angles = positions.to(dtype)[..., axis] * omega  # (B, N, head_dim/2), one angle per pair
        angles = angles.unflatten(-1, (2, head_dim // 4))  # pair j ↔ (group, index) of apply_rotary
        cos, sin = angles.cos(), angles.sin()
        cos = torch.stack((cos, cos), dim=-2)  # (B, N, 2, 2, Q): [group][first/second of the pair]
        sin = torch.stack((-sin, sin), dim=-2)
        return RotaryTable(cos.flatten(-3)[:, None], sin.flatten(-3)[:, None])
