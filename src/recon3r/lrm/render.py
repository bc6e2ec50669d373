"""Differentiable volume rendering inside the [-1, 1]^3 box: rays, box clipping, sampling, compositing.

Cameras follow the rest of recon3r: intrinsics K (3×3, pixels, pixel centres at integer
coordinates) and cam-to-world poses `world_from_cam` (4×4) with OpenCV axes (x right, y down,
z forward). Ray directions have z = 1 in the camera frame, so a ray parameter t is the z-depth of the
point `origin + t · direction`; metric lengths along a ray are dt · |direction|.

Compositing is the usual NeRF quadrature: αᵢ = 1 − exp(−σᵢ δᵢ), Tᵢ = Πⱼ<ᵢ (1 − αⱼ), wᵢ = Tᵢ αᵢ;
colour Σ wᵢ cᵢ + (1 − Σ wᵢ) · background, opacity Σ wᵢ, depth Σ wᵢ tᵢ / opacity (0 when empty).
All functions are pure, batched over leading dimensions and dtype/device-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

Field = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class RenderOutput(NamedTuple):
    rgb: torch.Tensor  # (..., 3)
    depth: torch.Tensor  # (...,) z-depth (ray parameter); 0 where opacity is 0
    opacity: torch.Tensor  # (...,) in [0, 1]


def pixel_grid(height: int, width: int, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> torch.Tensor:
    """(H·W, 2) pixel centres (x, y) in row-major order."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=dtype, device=device),
                            torch.arange(width, dtype=dtype, device=device), indexing="ij")
    return torch.stack((xs.reshape(-1), ys.reshape(-1)), dim=-1)


def camera_rays(intrinsics: torch.Tensor, world_from_cam: torch.Tensor, pixels: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """World-frame rays through `pixels`.

    intrinsics (B, 3, 3), world_from_cam (B, 4, 4), pixels (B, N, 2) or (N, 2) as (x, y).
    Returns origins (B, N, 3) and directions (B, N, 3) (camera-frame z = 1, not unit length).
    """
    B = intrinsics.shape[0]
    pixels = pixels.to(intrinsics.dtype).expand(B, -1, -1) if pixels.ndim == 2 else pixels.to(intrinsics.dtype)
    fx, fy = intrinsics[:, 0, 0, None], intrinsics[:, 1, 1, None]
    cx, cy = intrinsics[:, 0, 2, None], intrinsics[:, 1, 2, None]
    d_cam = torch.stack(((pixels[..., 0] - cx) / fx, (pixels[..., 1] - cy) / fy, torch.ones_like(pixels[..., 0])), -1)
    rotation = world_from_cam[:, :3, :3].to(intrinsics.dtype)
    directions = d_cam @ rotation.transpose(1, 2)
    origins = world_from_cam[:, None, :3, 3].to(intrinsics.dtype).expand_as(directions)
    return origins, directions


def intersect_box(origins: torch.Tensor, directions: torch.Tensor, bound: float = 1.0
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test of rays against [-bound, bound]^3.

    origins, directions (..., 3). Returns near, far (...,) ray parameters (near clamped at 0, so a
    camera inside the box starts at its centre) and hit (...,) bool; near = far = 0 on a miss.
    """
    tiny = torch.finfo(directions.dtype).tiny
    safe = torch.where(directions.abs() < tiny, torch.full_like(directions, tiny), directions)
    t0 = (-bound - origins) / safe
    t1 = (bound - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    hit = far > near
    zero = torch.zeros_like(near)
    return torch.where(hit, near, zero), torch.where(hit, far, zero), hit


def stratified_samples(near: torch.Tensor, far: torch.Tensor, count: int, perturb: bool = False,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` samples per ray in [near, far], one per equal bin (bin midpoints unless `perturb`).

    near, far (...,). Returns t (..., count) and the bin width dt (..., 1) (same for every sample).
    """
    dt = ((far - near) / count)[..., None]
    offset = torch.full((*near.shape, count), 0.5, dtype=near.dtype, device=near.device)
    if perturb:
        offset = torch.rand(offset.shape, dtype=near.dtype, device=near.device, generator=generator)
    bins = torch.arange(count, dtype=near.dtype, device=near.device)
    return near[..., None] + (bins + offset) * dt, dt


def composite(sigma: torch.Tensor, rgb: torch.Tensor, t: torch.Tensor, delta: torch.Tensor,
              background: float | torch.Tensor = 0.0) -> RenderOutput:
    """Alpha-composite samples along rays.

    sigma (..., S) densities per metric unit, rgb (..., S, 3), t (..., S) ray parameters,
    delta (..., S) or broadcastable metric lengths of the samples' intervals.
    """
    alpha = 1 - torch.exp(-sigma.clamp_min(0) * delta)
    shifted = torch.cat((torch.ones_like(alpha[..., :1]), 1 - alpha[..., :-1] + 1e-10), dim=-1)
    weights = alpha * torch.cumprod(shifted, dim=-1)
    opacity = weights.sum(dim=-1)
    color = (weights[..., None] * rgb).sum(dim=-2) + (1 - opacity[..., None]) * background
    depth = (weights * t).sum(dim=-1) / opacity.clamp_min(1e-10)
    return RenderOutput(color, torch.where(opacity > 0, depth, torch.zeros_like(depth)), opacity)


def render_rays(field: Field, origins: torch.Tensor, directions: torch.Tensor, samples: int,
                perturb: bool = False, background: float | torch.Tensor = 0.0, bound: float = 1.0,
                generator: torch.Generator | None = None) -> RenderOutput:
    """Render rays (B, N, 3) through a radiance field living in [-bound, bound]^3.

    `field(points (B, M, 3)) → (sigma (B, M), rgb (B, M, 3))`; the field is only queried inside
    the box (rays that miss it see the background).
    """
    B, N, _ = origins.shape
    near, far, _ = intersect_box(origins, directions, bound)
    t, dt = stratified_samples(near, far, samples, perturb, generator)  # (B, N, S), (B, N, 1)
    points = origins[..., None, :] + t[..., None] * directions[..., None, :]
    points = points.clamp(-bound, bound)  # guard against round-off just outside the box
    sigma, rgb = field(points.reshape(B, N * samples, 3))
    delta = dt * directions.norm(dim=-1, keepdim=True)
    return composite(sigma.reshape(B, N, samples), rgb.reshape(B, N, samples, 3), t, delta, background)
