"""The inference cameras: OpenLRM's canonical source camera and orbit, and the released input sizes."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from recon3r.lrm.cameras import canonical_source_camera, inference_sizes, orbit_render_cameras
from recon3r.models.lrm import OPENLRM_CONFIGS, ModelLRM

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / os.environ.get("RECON3R_GOLDEN_LRM", "../shared/golden_lrm") / "s1_default_cams"


def test_canonical_source_and_orbit_match_the_reference_runner():
    if not (CASE / "inputs.npz").is_file():
        pytest.skip(f"golden LRM case not found: {CASE}")
    inputs = np.load(CASE / "inputs.npz")
    torch.testing.assert_close(canonical_source_camera(2.0), torch.from_numpy(inputs["source_camera"]))
    views = inputs["render_cameras"].shape[1]
    torch.testing.assert_close(orbit_render_cameras(views), torch.from_numpy(inputs["render_cameras"][0]),
                               atol=1e-6, rtol=0)


def test_canonical_source_looks_at_the_origin_from_minus_y():
    camera = canonical_source_camera(2.5, batch=3)
    assert camera.shape == (3, 16)
    pose = camera[0, :12].reshape(3, 4)
    torch.testing.assert_close(pose[:, 3], torch.tensor([0.0, -2.5, 0.0]))
    torch.testing.assert_close(-pose[:, 2], torch.tensor([0.0, 1.0, 0.0]))  # OpenGL: looks along −z


def test_released_models_use_openlrm_input_sizes():
    with torch.device("meta"):
        sizes = {name: inference_sizes(ModelLRM(**config)) for name, config in OPENLRM_CONFIGS.items()}
    assert sizes == {"small": (224, 192), "base": (336, 288), "large": (448, 384)}
    assert inference_sizes(ModelLRM(**ModelLRM.tiny_config)) == (28, 28)


def test_normalize_to_source_puts_the_source_on_the_canonical_pose_and_keeps_relative_poses():
    from recon3r.geometry.cameras import look_at
    from recon3r.lrm.cameras import canonical_source_pose, normalize_to_source

    eyes = torch.tensor([[1.0, 2.0, 0.7], [-2.0, 0.5, 1.0], [0.3, -2.2, -0.4]], dtype=torch.float64)
    poses = look_at(eyes, torch.zeros_like(eyes), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    normalized = normalize_to_source(poses, source=1)
    distance = float(eyes[1].norm())
    torch.testing.assert_close(normalized[1], canonical_source_pose(distance, torch.float64))
    relative = torch.linalg.inv(poses[0]) @ poses[2]
    torch.testing.assert_close(torch.linalg.inv(normalized[0]) @ normalized[2], relative)
    torch.testing.assert_close(normalized[:, :3, 3].norm(dim=-1), eyes.norm(dim=-1))  # origin kept (looked at)
    source = canonical_source_camera(distance).double()
    torch.testing.assert_close(source[0, :12].reshape(3, 4), (normalized[1] * torch.tensor([1.0, -1, -1, 1],
                                                              dtype=torch.float64))[:3])
