"""Rigid and similarity transforms as homogeneous matrices."""

from __future__ import annotations

import torch
from torch import Tensor


def make_transform(rotation: Tensor, translation: Tensor, scale: Tensor | float | None = None) -> Tensor:
    """Build (..., 4, 4) matrices [[s·R, t], [0, 1]] from R (..., 3, 3), t (..., 3) and optional s (...)."""
    batch = rotation.shape[:-2]
    out = torch.zeros(*batch, 4, 4, dtype=rotation.dtype, device=rotation.device)
    linear = rotation
    if scale is not None:
        scale = torch.as_tensor(scale, dtype=rotation.dtype, device=rotation.device)
        linear = rotation * scale[..., None, None]
    out[..., :3, :3] = linear
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1
    return out


def apply_transform(transform: Tensor, points: Tensor) -> Tensor:
    """Apply (B, 4, 4) / (B, 3, 3) matrices, or a single (4, 4) / (3, 3), to points (B, ..., 3).

    A 4×4 is an affine transform (no perspective division). A 3×3 is applied as a
    linear map. With a batched transform, the leading dimension of `points` must match.
    """
    if points.shape[-1] != 3:
        raise ValueError(f"points must end with a dimension of 3, got shape {tuple(points.shape)}")
    dim = transform.shape[-1]
    if transform.shape[-2:] not in ((4, 4), (3, 3)):
        raise ValueError(f"transform must be (..., 4, 4) or (..., 3, 3), got {tuple(transform.shape)}")
    linear = transform[..., :3, :3]
    if transform.ndim == 2:
        out = points @ linear.transpose(-1, -2)
        if dim == 4:
            out = out + transform[:3, 3]
        return out
    batch = transform.shape[0]
    if points.shape[0] != batch:
        raise ValueError(f"batch mismatch: {batch} transforms for points of shape {tuple(points.shape)}")
    flat = points.reshape(batch, -1, 3)
    out = flat @ linear.transpose(-1, -2)
    if dim == 4:
        out = out + transform[:, None, :3, 3]
    return out.reshape(points.shape)


def invert_transform(transform: Tensor) -> Tensor:
    """Invert (..., 4, 4) similarity transforms [[s·R, t], [0, 1]] in closed form.

    Valid for rotations with a uniform scale; for a general affine map use `torch.linalg.inv`.
    """
    linear = transform[..., :3, :3]
    scale_sq = (linear[..., 0, :] ** 2).sum(-1)  # s² from the first row of s·R
    linear_inv = linear.transpose(-1, -2) / scale_sq[..., None, None]
    out = torch.zeros_like(transform)
    out[..., :3, :3] = linear_inv
    out[..., :3, 3] = -(linear_inv @ transform[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1
    return out
