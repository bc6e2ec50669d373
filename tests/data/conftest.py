from __future__ import annotations

import numpy as np
import pytest
import torch

from recon3r.data.procedural import write_procedural
from recon3r.geometry import apply_transform, depth_to_world_points, invert_transform, project_points

# One tiny on-disk procedural dataset shared by the loader tests (test_multiview.py repeats these values).
TINY = {"scenes": 2, "views": 3, "size": 48, "seed": 7, "kind": "pairs"}


@pytest.fixture(scope="session")
def tiny_procedural(tmp_path_factory):
    root = tmp_path_factory.mktemp("procedural")
    write_procedural(root, TINY["scenes"], TINY["views"], size=TINY["size"], seed=TINY["seed"], kind=TINY["kind"])
    return root


@pytest.fixture(scope="session")
def reproject():
    """`reproject(scene, renders, a, b)`: the cross-view depth check of procedural scenes (see `_reproject`)."""
    return _reproject


def _reproject(scene, renders, a: int, b: int) -> tuple[int, int, int]:
    """Unproject view a's depth, project into view b; compare with b's depth on planar patches.

    Returns (planar candidates, points agreeing to 1e-4, points in front of b's surface by > 0.1%).
    On a plane inverse depth is affine in pixel coordinates, so bilinear interpolation of b's inverse
    depth is exact wherever the four neighbours lie on one plane (zero mixed difference).
    """
    ca, cb = scene.cameras[a], scene.cameras[b]
    depth_a = torch.from_numpy(renders[a].depth).double()
    points = depth_to_world_points(depth_a[None], torch.from_numpy(ca.intrinsics)[None],
                                   torch.from_numpy(ca.world_from_cam)[None])[0][depth_a > 0]
    local = apply_transform(invert_transform(torch.from_numpy(cb.world_from_cam)), points)
    pixels, z = project_points(local[None], torch.from_numpy(cb.intrinsics)[None])
    x, y, z = pixels[0, :, 0].numpy(), pixels[0, :, 1].numpy(), z[0].numpy()
    depth_b = renders[b].depth.astype(np.float64)
    h, w = depth_b.shape
    inside = (z > 0) & (x >= 0) & (x < w - 1) & (y >= 0) & (y < h - 1)
    x, y, z = x[inside], y[inside], z[inside]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    corners = np.stack([depth_b[y0, x0], depth_b[y0, x0 + 1], depth_b[y0 + 1, x0], depth_b[y0 + 1, x0 + 1]], 1)
    valid = corners.min(1) > 0
    inv = 1.0 / np.where(corners > 0, corners, 1.0)
    planar = valid & (np.abs(inv[:, 0] + inv[:, 3] - inv[:, 1] - inv[:, 2]) < 1e-5 * inv[:, 0])
    weights = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], 1)
    rel = ((z - 1.0 / (inv * weights).sum(1)) / (1.0 / (inv * weights).sum(1)))[planar]
    return int(planar.sum()), int((np.abs(rel) < 1e-4).sum()), int((rel < -1e-3).sum())
