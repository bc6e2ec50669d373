"""Density grid → triangle mesh by marching cubes (PyMCubes, the `lrm` extra), exported with trimesh.

The grid samples [-bound, bound]^3 at `resolution` points per axis, corners included (spacing
2·bound / (resolution − 1)); it is padded with one layer of zero density before marching so the
surface is always closed, even where the object touches the box (vertices in the padding are
clamped onto the box faces). Faces are oriented outwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

DensityFn = Callable[[torch.Tensor], torch.Tensor]


class Mesh(NamedTuple):
    vertices: np.ndarray  # (V, 3) float32, model frame
    faces: np.ndarray  # (F, 3) int64, counter-clockwise seen from outside
    colors: np.ndarray | None  # (V, 3) uint8 or None


def grid_points(resolution: int, bound: float = 1.0, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> torch.Tensor:
    """(R, R, R, 3) grid points; index [i, j, k] is the point (x_i, y_j, z_k)."""
    axis = torch.linspace(-bound, bound, resolution, dtype=dtype, device=device)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)


@torch.no_grad()
def density_grid(density: DensityFn, resolution: int, bound: float = 1.0, chunk: int = 65536,
                 device: torch.device | str | None = None) -> np.ndarray:
    """(R, R, R) float32 densities of `density(points (M, 3)) → (M,)` on `grid_points`."""
    points = grid_points(resolution, bound, device=device).reshape(-1, 3)
    values = torch.cat([density(points[i:i + chunk]).reshape(-1) for i in range(0, len(points), chunk)])
    return values.reshape(resolution, resolution, resolution).float().cpu().numpy()


def marching_cubes(grid: np.ndarray, threshold: float, bound: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface {density = threshold} of an (R, R, R) grid → (vertices (V, 3), faces (F, 3)), outward faces."""
    try:
        import mcubes
    except ImportError:
        raise ImportError("mesh extraction needs PyMCubes: pip install 'recon3r[lrm]'") from None
    resolution = grid.shape[0]
    padded = np.pad(grid.astype(np.float64), 1, constant_values=min(0.0, float(grid.min())))
    vertices, faces = mcubes.marching_cubes(padded, float(threshold))
    # Crossings into the padding layer land on the box faces (the cap of a cut object is flat).
    vertices = np.clip((vertices - 1) * (2 * bound / (resolution - 1)) - bound, -bound, bound)
    faces = faces.astype(np.int64)
    if len(faces) and _signed_volume(vertices, faces) < 0:
        faces = faces[:, ::-1].copy()
    return vertices.astype(np.float32), faces


def extract_mesh(density: DensityFn, resolution: int = 64, threshold: float = 1.0, bound: float = 1.0,
                 color: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 device: torch.device | str | None = None) -> Mesh:
    """Mesh of the region where `density` exceeds `threshold`; `color(points (V, 3)) → (V, 3) in [0, 1]`
    gives vertex colours. Raises ValueError when no surface crosses the threshold."""
    grid = density_grid(density, resolution, bound, device=device)
    if not (grid.max() > threshold):
        raise ValueError(f"no density above the threshold {threshold} (max {grid.max():.3g}): nothing to mesh; "
                         "lower the threshold or check the model")
    vertices, faces = marching_cubes(grid, threshold, bound)
    colors = None
    if color is not None:
        with torch.no_grad():
            rgb = color(torch.from_numpy(vertices).to(device)).float().clamp(0, 1).cpu().numpy()
        colors = (rgb * 255).round().astype(np.uint8)
    return Mesh(vertices, faces, colors)


def export_mesh(mesh: Mesh, path: str | Path) -> Path:
    """Write the mesh with trimesh; the format follows the suffix (.glb, .ply, .obj, ...)."""
    try:
        import trimesh
    except ImportError:
        raise ImportError("mesh export needs trimesh: pip install 'recon3r[export]'") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_colors=mesh.colors, process=False)
    tm.export(path)
    return path


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)
