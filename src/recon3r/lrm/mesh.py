"""Triplane density → triangle mesh by marching cubes (PyMCubes, the `lrm` extra), with vertex colours.

As OpenLRM's runner: the density is sampled on a G³ grid of [-1, 1]³ (`forward_grid`, corners
included), the iso-surface {density = threshold} extracted, vertices mapped by v / (G − 1)·2 − 1 and
coloured by the field's colour at each vertex. Unlike the runner, the grid is padded with one layer
of zero density first, so the surface is closed where the object touches the box (vertices in the
padding are clamped onto the box faces), and faces are oriented outwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from recon3r.errors import ConfigError


class Mesh(NamedTuple):
    vertices: np.ndarray  # (V, 3) float32, model frame (world z up)
    faces: np.ndarray  # (F, 3) int64, counter-clockwise seen from outside
    colors: np.ndarray | None  # (V, 3) uint8 or None


def marching_cubes(grid: np.ndarray, threshold: float, bound: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface {value = threshold} of an (G, G, G) grid over [-bound, bound]³ → (vertices (V, 3), faces (F, 3))."""
    try:
        import mcubes
    except ImportError:
        raise ConfigError("mesh extraction needs PyMCubes: pip install 'recon3r[lrm]'") from None
    resolution = grid.shape[0]
    padded = np.pad(grid.astype(np.float64), 1, constant_values=min(0.0, float(grid.min())))
    vertices, faces = mcubes.marching_cubes(padded, float(threshold))
    vertices = np.clip((vertices - 1) * (2 * bound / (resolution - 1)) - bound, -bound, bound)
    faces = faces.astype(np.int64)
    if len(faces) and _signed_volume(vertices, faces) < 0:
        faces = faces[:, ::-1].copy()
    return vertices.astype(np.float32), faces


@torch.no_grad()
def extract_mesh(model: torch.nn.Module, planes: torch.Tensor, resolution: int = 384, threshold: float = 3.0) -> Mesh:
    """Mesh of one triplane (1, 3, C, H, W) of a ModelLRM where the density exceeds `threshold`.

    Raises ValueError when no density crosses the threshold.
    """
    if resolution < 2:
        raise ConfigError(f"the mesh grid needs at least 2 points per axis, got {resolution}")
    sigma = model.synthesizer.forward_grid(planes[:1], resolution)["sigma"][0, ..., 0].float().cpu().numpy()
    if not sigma.max() > threshold:
        raise ValueError(f"no density above the threshold {threshold} (max {sigma.max():.3g}): nothing to mesh")
    vertices, faces = marching_cubes(sigma, threshold)
    points = torch.from_numpy(vertices).to(planes)[None]
    rgb = model.synthesizer.forward_points(planes[:1], points)["rgb"][0].clamp(0, 1).float().cpu().numpy()
    return Mesh(vertices, faces, (rgb * 255).astype(np.uint8))


def export_mesh(mesh: Mesh, path: str | Path) -> Path:
    """Write the mesh with trimesh, vertex colours included; the format follows the suffix (.glb, .ply, .obj)."""
    try:
        import trimesh
    except ImportError:
        raise ConfigError("mesh export needs trimesh: pip install 'recon3r[lrm]'") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_colors=mesh.colors, process=False).export(path)
    return path


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)
