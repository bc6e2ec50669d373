"""How an unknown depth shift and a wrong focal length bend a point cloud, and how to undo it.

Conventions (shared with `recon3r.geometry`):
- OpenCV camera axes: x right, y down, z forward; depth is the z coordinate, not the ray length.
- Pixel centres sit at integer coordinates; pixel coordinates are (x = column, y = row).
- Focal lengths are in pixels, one per image (fx = fy); principal points are (cx, cy) in pixels,
  ((W-1)/2, (H-1)/2) when not given.

A monocular network predicts depth only up to an affine map, `d = a·D + b`. The scale `a` cannot be
recovered from one image (it only scales the cloud); the shift `b` and the focal length can, because
the wrong values bend the cloud (planes curve, right angles open or close). Both are described here
by the *correction* that recovers the true geometry up to scale:

    true depth ∝ depth + shift,        true focal = focal · focal_scale.

`distort` produces what a recovery method sees from the truth, `apply_correction` undoes it; with the
same `shift` and `focal_scale` they are exact inverses.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_depth(depth: Tensor, name: str = "depth") -> tuple[int, int, int]:
    if not isinstance(depth, Tensor) or depth.ndim != 3:
        shape = tuple(depth.shape) if isinstance(depth, Tensor) else type(depth).__name__
        raise ValueError(f"{name} must be a (B, H, W) tensor, got {shape}")
    return depth.shape[0], depth.shape[1], depth.shape[2]


def _per_image(value: Tensor | float, batch: int, like: Tensor, name: str) -> Tensor:
    """A per-image scalar as a (B,) tensor on `like`'s device and dtype (floats broadcast)."""
    value = torch.as_tensor(value, device=like.device, dtype=like.dtype)
    if value.ndim == 0:
        return value.expand(batch)
    if value.shape != (batch,):
        raise ValueError(f"{name} must be a scalar or shape (B,) = ({batch},), got {tuple(value.shape)}")
    return value


def default_principal_point(height: int, width: int, batch: int, device=None, dtype=torch.float32) -> Tensor:
    """(B, 2) principal points at the centre of the pixel grid, ((W-1)/2, (H-1)/2)."""
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=device, dtype=dtype)
    return centre.expand(batch, 2)


def depth_to_points(depth: Tensor, focal: Tensor | float, principal_point: Tensor | None = None) -> Tensor:
    """Unproject z-depth maps (B, H, W) with one focal per image (B,) to camera-frame points (B, H, W, 3).

    Args:
        depth: (B, H, W) z depth, any unit; the points come out in that unit.
        focal: (B,) or a scalar, pixels (fx = fy).
        principal_point: (B, 2) (cx, cy) in pixels; None = ((W-1)/2, (H-1)/2).
    """
    batch, height, width = _check_depth(depth)
    focal = _per_image(focal, batch, depth, "focal")
    if principal_point is None:
        principal_point = default_principal_point(height, width, batch, depth.device, depth.dtype)
    elif principal_point.shape != (batch, 2):
        raise ValueError(f"principal_point must be (B, 2) = ({batch}, 2), got {tuple(principal_point.shape)}")
    principal_point = principal_point.to(device=depth.device, dtype=depth.dtype)
    xs = torch.arange(width, device=depth.device, dtype=depth.dtype)
    ys = torch.arange(height, device=depth.device, dtype=depth.dtype)
    u = (xs[None, None, :] - principal_point[:, 0, None, None]) / focal[:, None, None]
    v = (ys[None, :, None] - principal_point[:, 1, None, None]) / focal[:, None, None]
    return torch.stack([u * depth, v * depth, depth], dim=-1)


def pixels_to_points(
    pixels: Tensor, depth: Tensor, focal: Tensor | float, principal_point: Tensor
) -> Tensor:
    """Unproject sampled pixels: (B, N, 2) (x, y) with depths (B, N) → camera-frame points (B, N, 3)."""
    if pixels.ndim != 3 or pixels.shape[-1] != 2 or depth.shape != pixels.shape[:2]:
        raise ValueError(f"expected pixels (B, N, 2) and depth (B, N), got {tuple(pixels.shape)} and {tuple(depth.shape)}")
    batch = depth.shape[0]
    focal = _per_image(focal, batch, depth, "focal")
    if principal_point.shape != (batch, 2):
        raise ValueError(f"principal_point must be (B, 2) = ({batch}, 2), got {tuple(principal_point.shape)}")
    rays = (pixels.to(depth.dtype) - principal_point[:, None, :].to(depth.dtype)) / focal[:, None, None]
    return torch.cat([rays * depth[..., None], depth[..., None]], dim=-1)


def distort(
    depth: Tensor, focal: Tensor | float, shift: Tensor | float, focal_scale: Tensor | float
) -> tuple[Tensor, Tensor]:
    """What a recovery method sees: (depth - shift, focal / focal_scale) from the true depth and focal.

    Args:
        depth: (B, H, W) true z depth (any positive unit).
        focal: (B,) or scalar true focal, pixels.
        shift: (B,) or scalar, same unit as `depth`; positive shifts move the scene towards the
            camera (the near range is compressed), negative ones push it away (the cloud flattens).
        focal_scale: (B,) or scalar > 0, true focal / guessed focal.
    Returns:
        ((B, H, W) distorted depth, (B,) guessed focal). Distorted depths may be ≤ 0 when `shift`
        exceeds the nearest depth; callers sample shifts that keep them positive.
    """
    batch = _check_depth(depth)[0]
    shift = _per_image(shift, batch, depth, "shift")
    focal_scale = _per_image(focal_scale, batch, depth, "focal_scale")
    focal = _per_image(focal, batch, depth, "focal")
    return depth - shift[:, None, None], focal / focal_scale


def apply_correction(
    depth: Tensor, focal: Tensor | float, shift: Tensor | float, focal_scale: Tensor | float
) -> tuple[Tensor, Tensor]:
    """Undo `distort`: (depth + shift, focal · focal_scale). Shapes and units as in `distort`."""
    batch = _check_depth(depth)[0]
    shift = _per_image(shift, batch, depth, "shift")
    focal_scale = _per_image(focal_scale, batch, depth, "focal_scale")
    focal = _per_image(focal, batch, depth, "focal")
    return depth + shift[:, None, None], focal * focal_scale


def focal_from_fov(width: int | Tensor, fov_deg: float | Tensor) -> Tensor:
    """Focal in pixels for an image `width` pixels wide with horizontal field of view `fov_deg` degrees."""
    fov = torch.deg2rad(torch.as_tensor(fov_deg, dtype=torch.float64))
    return torch.as_tensor(width, dtype=torch.float64) / 2 / torch.tan(fov / 2)


def fit_scale(points: Tensor, target: Tensor) -> Tensor:
    """Least-squares scale s (B,) minimising Σ‖s·points - target‖² for (B, N, 3) point sets."""
    if points.shape != target.shape or points.ndim != 3:
        raise ValueError(f"expected two (B, N, 3) point sets, got {tuple(points.shape)} and {tuple(target.shape)}")
    return (points * target).sum(dim=(1, 2)) / (points * points).sum(dim=(1, 2)).clamp_min(1e-12)
