"""Voxel-grid downsampling of point clouds: one representative point per occupied voxel.

A cloud sampled by pixels is dense where the surface is near the camera and sparse far away; a
voxel grid evens that out (Train-3D's `--voxel_size`, which quantises the cloud before its sparse
network). The grid is axis-aligned with cells of side `voxel_size` in the points' unit, anchored
at the origin.
"""

from __future__ import annotations

import torch
from torch import Tensor


def voxel_representatives(points: Tensor, voxel_size: float, order: Tensor | None = None) -> Tensor:
    """Indices (M,) into `points` (N, 3): one point per occupied voxel, sorted by index.

    Each voxel keeps the point that comes first in `order` (a permutation (N,) of range(N), e.g.
    random for a random representative); None keeps the lowest index. Works on any device and
    floating dtype; `voxel_size` must be positive.
    """
    if points.ndim != 2 or points.shape[-1] != 3:
        raise ValueError(f"expected points (N, 3), got {tuple(points.shape)}")
    if not voxel_size > 0:
        raise ValueError(f"voxel_size must be positive, got {voxel_size}")
    count = points.shape[0]
    if count == 0:
        return torch.zeros(0, dtype=torch.long, device=points.device)
    order = torch.arange(count, device=points.device) if order is None else order.to(points.device)
    if order.shape != (count,):
        raise ValueError(f"order must be a permutation of shape ({count},), got {tuple(order.shape)}")
    cells = torch.floor(points / voxel_size).to(torch.long)
    _, voxel_of = torch.unique(cells, dim=0, return_inverse=True)
    rank = torch.empty(count, dtype=torch.long, device=points.device)
    rank[order] = torch.arange(count, device=points.device)
    # The representative of a voxel is its point of smallest rank.
    best = torch.full((int(voxel_of.max()) + 1,), count, dtype=torch.long, device=points.device)
    best = best.scatter_reduce(0, voxel_of, rank, reduce="amin")
    return torch.sort(order[best]).values
