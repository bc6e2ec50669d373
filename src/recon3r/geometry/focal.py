"""Focal length estimation from camera-frame point maps.

A point map predicted in its own camera frame, with a known principal point, fixes the
focal length: pixel (u, v) relative to the principal point should equal f·(x/z, y/z).
One focal is shared by both axes (square pixels).

Reference names (DUSt3R): `estimate_focal_knowing_depth(pts3d, pp, focal_mode, min_focal,
max_focal)` is `estimate_focal(points, principal_point, mode=..., min_focal=..., max_focal=...)`;
the global-alignment helper `estimate_focal(pts3d_i, pp=None)` is
`estimate_focal(points, None, mode="weiszfeld")`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from recon3r.geometry.cameras import image_center, pixel_grid

FocalMode = Literal["median", "weiszfeld"]

#: Reweighted least-squares iterations of the `weiszfeld` mode (the reference's count).
WEISZFELD_ITERATIONS = 10


def focal_base(height: int, width: int) -> float:
    """Focal length in pixels of a 60° field of view across the larger image side.

    `estimate_focal`'s `min_focal` / `max_focal` are multiples of this value.
    """
    return max(height, width) / (2 * math.tan(math.radians(60) / 2))


def focal_from_fov(width: int | Tensor, fov_deg: float | Tensor) -> Tensor:
    """Focal in pixels (float64 tensor) of an image `width` pixels wide with horizontal field of view `fov_deg`°."""
    fov = torch.deg2rad(torch.as_tensor(fov_deg, dtype=torch.float64))
    return torch.as_tensor(width, dtype=torch.float64) / 2 / torch.tan(fov / 2)


def estimate_focal(
    points: Tensor,
    principal_point: Tensor | None = None,
    *,
    mode: FocalMode = "median",
    min_focal: float = 0.0,
    max_focal: float = math.inf,
) -> Tensor:
    """Estimate one focal length (pixels) per point map.

    Args:
        points: (..., H, W, 3) points in their camera frame (OpenCV axes), pixel (x=col, y=row).
        principal_point: (..., 2) or (2,) as (cx, cy) in pixels. None uses the image centre
            (W/2, H/2), the global-alignment convention (see `image_center`).
        mode: `median`: the median of the 2·H·W per-pixel votes u·z/x and v·z/y (NaN votes
            ignored; with an even count the lower middle value is taken, as `torch.nanmedian`
            does). No gradient flows through it.
            `weiszfeld`: minimise Σ‖(u, v) − f·(x/z, y/z)‖ by the closed-form L2 fit followed
            by 10 reweighted least-squares steps (weights 1/max(residual, 1e-8)); pixels with
            z = 0 or NaN points contribute (x/z, y/z) = 0.
        min_focal, max_focal: clip bounds, as multiples of `focal_base(H, W)`.

    Returns:
        (...) focal lengths in pixels.
    """
    if points.ndim < 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (..., H, W, 3), got shape {tuple(points.shape)}")
    *batch, height, width, _ = points.shape
    if principal_point is None:
        principal_point = image_center(height, width, device=points.device, dtype=points.dtype)
    if principal_point.shape[-1] != 2:
        raise ValueError(f"principal_point must be (..., 2), got shape {tuple(principal_point.shape)}")
    principal_point = principal_point.to(points.dtype).expand(*batch, 2)

    flat = points.reshape(-1, height * width, 3)
    grid = pixel_grid(height, width, device=points.device, dtype=points.dtype).reshape(1, -1, 2)
    pixels = grid - principal_point.reshape(-1, 1, 2)  # (B, HW, 2)

    if mode == "median":
        focal = _median_focal(flat.detach(), pixels)
    elif mode == "weiszfeld":
        focal = _weiszfeld_focal(flat, pixels)
    else:
        raise ValueError(f"unknown focal mode {mode!r}; expected 'median' or 'weiszfeld'")

    base = focal_base(height, width)
    focal = focal.clamp(min=min_focal * base, max=max_focal * base)
    return focal.reshape(batch)


def _median_focal(points: Tensor, pixels: Tensor) -> Tensor:
    votes = pixels * points[..., 2:3] / points[..., :2]  # (B, HW, 2): u·z/x, v·z/y
    return votes.transpose(1, 2).reshape(len(points), -1).nanmedian(dim=-1).values


def _weiszfeld_focal(points: Tensor, pixels: Tensor) -> Tensor:
    rays = (points[..., :2] / points[..., 2:3]).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    dot_ray_pixel = (rays * pixels).sum(-1)
    dot_ray_ray = rays.square().sum(-1)
    focal = dot_ray_pixel.mean(-1) / dot_ray_ray.mean(-1)
    for _ in range(WEISZFELD_ITERATIONS):
        residual = (pixels - focal[:, None, None] * rays).norm(dim=-1)
        weight = residual.clamp_min(1e-8).reciprocal()
        focal = (weight * dot_ray_pixel).mean(-1) / (weight * dot_ray_ray).mean(-1)
    return focal
