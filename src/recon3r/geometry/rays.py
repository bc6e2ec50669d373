"""Camera rays and ray / box intersection.

Cameras here use intrinsics normalised by the image size (fx / W, fy / H, cx / W, cy / H, skew
s / W), so one K serves every resolution. A pixel (row i, col j) of an S × S image has normalised
centre ((j + 0.5) / S, (i + 0.5) / S): the image spans [0, 1]², pixel edges at k / S.
Poses are cam-to-world with OpenCV axes (x right, y down, z forward), as everywhere in recon3r.
"""

from __future__ import annotations

import torch
from torch import Tensor


def region_pixel_centers(resolution: Tensor, anchors: Tensor, region: int) -> Tensor:
    """Normalised (x, y) centres of the pixels of an R × R crop of S × S images.

    resolution (B,) or (B, 1): the full image side S in pixels; anchors (B, 2): the crop's top-left
    (row, col) in pixels; region: R. Returns (B, R², 2), pixel k = i·R + j at (row i, col j).
    """
    B = anchors.shape[0]
    dtype, device = anchors.dtype if anchors.is_floating_point() else torch.float32, anchors.device
    steps = torch.arange(region, dtype=dtype, device=device)
    rows, cols = torch.meshgrid(steps, steps, indexing="ij")
    size = resolution.reshape(B, 1).to(dtype)
    anchors = anchors.to(dtype)
    x = (cols.reshape(1, -1) + anchors[:, 1:2]) / size + 0.5 / size
    y = (rows.reshape(1, -1) + anchors[:, 0:1]) / size + 0.5 / size
    return torch.stack((x, y), dim=-1)


def pixel_rays(world_from_cam: Tensor, intrinsics: Tensor, pixels: Tensor) -> tuple[Tensor, Tensor]:
    """World rays through normalised pixel centres.

    world_from_cam (B, 4, 4) OpenCV cam-to-world; intrinsics (B, 3, 3) normalised by the image size
    (with skew K[0, 1]); pixels (B, N, 2) normalised (x, y). Returns origins (B, N, 3) (the camera
    centres) and unit directions (B, N, 3).
    """
    fx, fy = intrinsics[:, 0, 0, None], intrinsics[:, 1, 1, None]
    cx, cy, skew = intrinsics[:, 0, 2, None], intrinsics[:, 1, 2, None], intrinsics[:, 0, 1, None]
    x, y = pixels[..., 0], pixels[..., 1]
    y_cam = (y - cy) / fy
    x_cam = (x - cx - skew * y_cam) / fx  # K⁻¹ with skew: x = fx·X + s·Y + cx
    d_cam = torch.stack((x_cam, y_cam, torch.ones_like(x_cam)), dim=-1)
    directions = torch.nn.functional.normalize(d_cam @ world_from_cam[:, :3, :3].transpose(1, 2), dim=-1)
    origins = world_from_cam[:, None, :3, 3].expand_as(directions)
    return origins, directions


def ray_box_limits(origins: Tensor, directions: Tensor, half_size: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """Slab test of the lines o + t·d against the cube [-half_size, half_size]³.

    origins, directions (..., 3). Returns the entry and exit parameters t_near, t_far (...) and
    `hit` (...) bool = t_far > t_near. The parameters are not clamped at 0: a box behind the
    origin gives negative values (still a hit), as the LRM renderer expects.
    """
    inverse = 1.0 / directions
    t_low = (-half_size - origins) * inverse
    t_high = (half_size - origins) * inverse
    near = torch.minimum(t_low, t_high).amax(dim=-1)
    far = torch.maximum(t_low, t_high).amin(dim=-1)
    return near, far, far > near
