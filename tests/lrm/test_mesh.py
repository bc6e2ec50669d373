"""Marching cubes on analytic density grids: a closed sphere of the right radius, outward faces, export."""

import numpy as np
import pytest
import torch

from recon3r.lrm.mesh import Mesh, export_mesh, extract_mesh, marching_cubes
from recon3r.models.lrm import ModelLRM

pytest.importorskip("mcubes", reason="the `lrm` extra (PyMCubes) is not installed")


def _sphere_grid(resolution, radius, center=(0.0, 0.0, 0.0)):
    axis = np.linspace(-1, 1, resolution)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    distance = np.sqrt((x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2)
    return 10.0 * (radius - distance) + 5.0  # density 5 on the sphere


@pytest.mark.parametrize("resolution, radius", [(32, 0.5), (48, 0.7)])
def test_sphere_density_gives_a_closed_mesh_with_the_right_radius(resolution, radius):
    vertices, faces = marching_cubes(_sphere_grid(resolution, radius), threshold=5.0)
    cell = 2.0 / (resolution - 1)
    assert np.abs(np.linalg.norm(vertices, axis=1) - radius).max() <= cell
    trimesh = pytest.importorskip("trimesh")
    tm = trimesh.Trimesh(vertices, faces, process=True)
    assert tm.is_watertight and tm.is_winding_consistent
    assert tm.volume == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.05)  # positive: faces point outwards


def test_grid_axes_follow_the_ij_indexing():
    vertices, _ = marching_cubes(_sphere_grid(32, 0.3, center=(0.5, 0.0, -0.2)), threshold=5.0)
    np.testing.assert_allclose(vertices.mean(axis=0), [0.5, 0.0, -0.2], atol=0.02)


def test_an_object_touching_the_box_still_gives_a_closed_mesh():
    vertices, faces = marching_cubes(_sphere_grid(24, 0.6, (0.7, 0.0, 0.0)), threshold=5.0)
    trimesh = pytest.importorskip("trimesh")
    assert trimesh.Trimesh(vertices, faces, process=True).is_watertight
    assert vertices[:, 0].max() <= 1.0 + 1e-6


def test_model_mesh_has_vertex_colours_and_an_empty_field_raises():
    torch.manual_seed(0)
    model = ModelLRM(**ModelLRM.tiny_config).eval()
    planes = torch.zeros(1, 3, model.triplane_dim, 8, 8)
    with pytest.raises(ValueError, match="threshold"):
        extract_mesh(model, planes, 8, threshold=3.0)
    with torch.no_grad():
        model.synthesizer.decoder.net[-1].bias[0] = 5.0  # a constant density softplus(4) ≈ 4 in the box
    mesh = extract_mesh(model, planes, 8, threshold=3.0)
    assert mesh.colors is not None and mesh.colors.shape == (len(mesh.vertices), 3) and len(mesh.faces) > 0
    np.testing.assert_allclose(np.abs(mesh.vertices).max(), 1.0, atol=1e-6)  # the box itself


def test_export_round_trip_keeps_faces_and_colours(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    vertices, faces = marching_cubes(_sphere_grid(16, 0.5), threshold=5.0)
    colors = ((vertices + 1) / 2 * 255).astype(np.uint8)
    for name in ("m.glb", "m.ply"):
        loaded = trimesh.load(export_mesh(Mesh(vertices, faces, colors), tmp_path / name), force="mesh")
        assert len(loaded.faces) == len(faces)
        assert loaded.visual.vertex_colors.shape[0] == len(loaded.vertices)
