"""Triplane feature lookup: three axis-aligned feature planes, sampled bilinearly and summed.

Convention (EG3D / LRM style, fixed here once): `planes[:, 0]` is the XY plane, `planes[:, 1]` the XZ
plane, `planes[:, 2]` the YZ plane. Each plane is an image (C, R, R) whose column index runs along
the plane's first axis and whose row index along its second: `planes[b, 0, :, j, i]` is the XY
feature at x = u_i, y = u_j, with texel centres u_i = (2i + 1) / R − 1 (`align_corners=False`), so
the R texels tile [-1, 1] exactly. Outside the outermost texel centres the value is held constant
(`padding_mode="border"`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: For each plane, the (column axis, row axis) indices into a point's (x, y, z).
PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2))


def texel_centers(resolution: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
                  ) -> torch.Tensor:
    """(R,) coordinates in [-1, 1] of the texel centres along one plane axis."""
    return (2 * torch.arange(resolution, dtype=dtype, device=device) + 1) / resolution - 1


def sample_triplane(planes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear triplane features of `points`, summed over the three planes.

    planes: (B, 3, C, R, R) in the module's convention; points: (B, N, 3) in [-1, 1]^3 (any float
    dtype / device, matching `planes`). Returns (B, N, C). Differentiable in both arguments.
    """
    if planes.ndim != 5 or planes.shape[1] != 3 or planes.shape[-1] != planes.shape[-2]:
        raise ValueError(f"planes must be (B, 3, C, R, R), got {tuple(planes.shape)}")
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape[0] != planes.shape[0]:
        raise ValueError(f"points must be (B, N, 3) with B = {planes.shape[0]}, got {tuple(points.shape)}")
    B, _, C, R, _ = planes.shape
    N = points.shape[1]
    # grid_sample's grid is (x = column, y = row): one (N, 2) coordinate set per plane.
    coords = torch.stack([points[..., list(axes)] for axes in PLANE_AXES], dim=1)  # (B, 3, N, 2)
    sampled = F.grid_sample(planes.reshape(B * 3, C, R, R), coords.reshape(B * 3, 1, N, 2).to(planes.dtype),
                            mode="bilinear", padding_mode="border", align_corners=False)  # (B*3, C, 1, N)
    return sampled.reshape(B, 3, C, N).sum(dim=1).transpose(1, 2)
