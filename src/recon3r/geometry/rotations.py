"""Rotations: unit quaternions (real part first, Hamilton convention) ↔ rotation matrices."""

from __future__ import annotations

import torch
from torch import Tensor


def quaternion_to_rotation(quaternion: Tensor) -> Tensor:
    """(..., 4) quaternions (w, x, y, z), any norm → (..., 3, 3) rotation matrices.

    Uses s = 2/‖q‖², so a non-unit quaternion gives the rotation of its normalised version.
    """
    if quaternion.shape[-1] != 4:
        raise ValueError(f"quaternions must end with a dimension of 4, got shape {tuple(quaternion.shape)}")
    w, x, y, z = quaternion.unbind(-1)
    s = 2.0 / (quaternion * quaternion).sum(-1)
    rows = (
        1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
        s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
        s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
    )
    return torch.stack(rows, dim=-1).reshape(*quaternion.shape[:-1], 3, 3)


def pose_encoding_to_world_from_cam(encoding: Tensor) -> Tensor:
    """(..., 7) [t (3), q (4, real part first)] camera-to-world encodings → (..., 4, 4) world_from_cam."""
    if encoding.shape[-1] != 7:
        raise ValueError(f"pose encodings must end with a dimension of 7, got shape {tuple(encoding.shape)}")
    out = torch.zeros(*encoding.shape[:-1], 4, 4, dtype=encoding.dtype, device=encoding.device)
    out[..., :3, :3] = quaternion_to_rotation(encoding[..., 3:])
    out[..., :3, 3] = encoding[..., :3]
    out[..., 3, 3] = 1
    return out
