"""Triplanes: three axis-aligned feature planes, sampled bilinearly and decoded by a small MLP.

Plane axes (EG3D after its issue-67 fix, as OpenLRM uses them): a world point (x, y, z) in the
[-1, 1]³ box reads plane 0 at (u, v) = (x, y), plane 1 at (x, z) and plane 2 at (z, y). Each
plane is an image (C, H, W) whose column (width) index follows u and whose row (height) index
follows v, sampled with `grid_sample(bilinear, zeros padding, align_corners=False)`: the texels
tile [-1, 1] exactly and the features fade to zero half a texel outside. The three features are
concatenated (plane 0 | 1 | 2) and decoded by `OSGDecoder` into colour and raw density.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: For each plane, the point coordinates (index into x, y, z) read as (u, v) = (column, row).
TRIPLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (2, 1))


def sample_triplane(planes: Tensor, points: Tensor, box_size: float = 2.0) -> Tensor:
    """Bilinear features of `points` on each plane.

    planes (B, 3, C, H, W); points (B, P, 3) in the box [-box_size/2, box_size/2]³ (any float
    dtype / device). Returns (B, 3, P, C). Differentiable in both arguments.
    """
    if planes.ndim != 5 or planes.shape[1] != 3:
        raise ValueError(f"planes must be (B, 3, C, H, W), got {tuple(planes.shape)}")
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape[0] != planes.shape[0]:
        raise ValueError(f"points must be (B, P, 3) with B = {planes.shape[0]}, got {tuple(points.shape)}")
    B, _, C, H, W = planes.shape
    P = points.shape[1]
    coords = points * (2.0 / box_size)
    grid = torch.stack([coords[..., list(axes)] for axes in TRIPLANE_AXES], dim=1)  # (B, 3, P, 2)
    sampled = F.grid_sample(planes.reshape(B * 3, C, H, W), grid.reshape(B * 3, 1, P, 2).to(planes.dtype),
                            mode="bilinear", padding_mode="zeros", align_corners=False)  # (B·3, C, 1, P)
    return sampled.reshape(B, 3, C, P).transpose(2, 3)


class OSGDecoder(nn.Module):
    """Triplane features (B, 3, P, C) → colour (B, P, 3) and raw density (B, P, 1).

    An MLP (`net`: Linear(3C, hidden), ReLU, ..., Linear(hidden, 4)) on the concatenated plane
    features; colour = sigmoid · 1.002 − 0.001 (MipNeRF's widened sigmoid), density raw (activate
    with `recon3r.models.renderers.density_activation`). View directions are not used.
    """

    def __init__(self, n_features: int, hidden_dim: int = 64, num_layers: int = 4):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(3 * n_features, hidden_dim), nn.ReLU()]
        for _ in range(num_layers - 2):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        layers.append(nn.Linear(hidden_dim, 4))
        self.net = nn.Sequential(*layers)
        for module in self.net:
            if isinstance(module, nn.Linear) and not module.bias.is_meta:
                nn.init.zeros_(module.bias)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        B, n_planes, P, C = features.shape
        raw = self.net(features.permute(0, 2, 1, 3).reshape(B, P, n_planes * C))
        rgb = torch.sigmoid(raw[..., 1:]) * (1 + 2 * 0.001) - 0.001
        return rgb, raw[..., :1]
