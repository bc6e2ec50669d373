"""Rotations: unit quaternions (real part first, Hamilton convention) and rotation vectors → rotation matrices."""

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


def skew(vector: Tensor) -> Tensor:
    """(..., 3) vectors v → (..., 3, 3) cross-product matrices [v]× (so that [v]× @ u = v × u)."""
    if vector.shape[-1] != 3:
        raise ValueError(f"vectors must end with a dimension of 3, got shape {tuple(vector.shape)}")
    x, y, z = vector.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (zero, -z, y, z, zero, -x, -y, x, zero)
    return torch.stack(rows, dim=-1).reshape(*vector.shape[:-1], 3, 3)


def axis_angle_to_rotation(axis_angle: Tensor) -> Tensor:
    """(..., 3) rotation vectors (axis × angle in radians) → (..., 3, 3) rotation matrices (Rodrigues).

    Exact near zero (Taylor terms below 1e-4 rad), so it can take the small increments of a solver.
    """
    angle = torch.linalg.vector_norm(axis_angle, dim=-1)[..., None, None]
    small = angle < 1e-4
    safe = torch.where(small, torch.ones_like(angle), angle)
    sin_term = torch.where(small, 1 - angle**2 / 6, torch.sin(safe) / safe)
    cos_term = torch.where(small, 0.5 - angle**2 / 24, (1 - torch.cos(safe)) / safe**2)
    k = skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(k)
    return eye + sin_term * k + cos_term * (k @ k)
