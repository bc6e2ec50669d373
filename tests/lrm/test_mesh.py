"""Marching cubes on analytic densities: a closed sphere of the right radius, outward faces, export."""

import numpy as np
import pytest
import torch

from recon3r.lrm.mesh import export_mesh, extract_mesh, grid_points

pytest.importorskip("mcubes", reason="the `lrm` extra (PyMCubes) is not installed")


def _sphere(radius, center=(0.0, 0.0, 0.0)):
    c = torch.tensor(center)
    return lambda p: 10.0 * (radius - (p - c).norm(dim=-1)) + 5.0  # density 5 on the sphere


@pytest.mark.parametrize("resolution, radius", [(32, 0.5), (48, 0.7)])
def test_sphere_density_gives_a_closed_mesh_with_the_right_radius(resolution, radius):
    mesh = extract_mesh(_sphere(radius), resolution, threshold=5.0)
    cell = 2.0 / (resolution - 1)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(radii - radius).max() <= cell
    trimesh = pytest.importorskip("trimesh")
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    assert tm.is_watertight and tm.is_winding_consistent
    assert tm.volume == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.05)  # positive: faces point outwards


def test_an_object_touching_the_box_still_gives_a_closed_mesh():
    mesh = extract_mesh(_sphere(0.6, (0.7, 0.0, 0.0)), 24, threshold=5.0)
    trimesh = pytest.importorskip("trimesh")
    assert trimesh.Trimesh(mesh.vertices, mesh.faces, process=True).is_watertight
    assert mesh.vertices[:, 0].max() <= 1.0 + 1e-6


def test_empty_density_raises_a_clear_error():
    with pytest.raises(ValueError, match="threshold"):
        extract_mesh(lambda p: torch.zeros(len(p)), 8, threshold=5.0)


def test_vertex_colours_and_export_round_trip(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    mesh = extract_mesh(_sphere(0.5), 16, color=lambda p: (p + 1) / 2)
    assert mesh.colors is not None and mesh.colors.shape == (len(mesh.vertices), 3)
    for name in ("m.glb", "m.ply"):
        loaded = trimesh.load(export_mesh(mesh, tmp_path / name), force="mesh")
        assert len(loaded.faces) == len(mesh.faces)


def test_grid_points_index_order():
    g = grid_points(3)
    assert g[2, 0, 1].tolist() == [1.0, -1.0, 0.0]
