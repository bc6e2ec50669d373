"""Coloured point clouds as binary little-endian PLY (x, y, z float32; red, green, blue uchar)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recon3r.io.exports._common import masked_points
from recon3r.scene import Scene


def export_ply(scene: Scene, path: str | Path, max_points: int | None = None) -> Path:
    """Write the scene's masked world points with their colours to `path` (world frame, OpenCV)."""
    xyz, rgb, _, _ = masked_points(scene, max_points=max_points)
    return write_ply(path, xyz, rgb)


def write_ply(path: str | Path, xyz: np.ndarray, rgb: np.ndarray) -> Path:
    """Write (M, 3) points and (M, 3) uint8 colours as a binary little-endian PLY."""
    from plyfile import PlyData, PlyElement

    xyz, rgb = np.asarray(xyz), np.asarray(rgb)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or rgb.shape != xyz.shape:
        raise ValueError(f"expected points (M, 3) and colours (M, 3), got {xyz.shape} and {rgb.shape}")
    vertex = np.empty(len(xyz), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                       ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for k, name in enumerate("xyz"):
        vertex[name] = xyz[:, k]
    for k, name in enumerate(("red", "green", "blue")):
        vertex[name] = rgb[:, k]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(vertex, "vertex")], text=False, byte_order="<").write(str(path))
    return path
