"""`recon3r single-image` end to end on a generated image, reconstruct_single, turntable, errors."""

import numpy as np
import pytest
import torch
from PIL import Image
from recon3r.lrm.data import render_orbit

from recon3r.cli import main
from recon3r.lrm.turntable import turntable_poses
from recon3r.models.checkpoint import save_model
from recon3r.models.lrm import build_lrm

pytest.importorskip("mcubes", reason="the `lrm` extra (PyMCubes) is not installed")


@pytest.fixture
def tiny_weights(tmp_path):
    torch.manual_seed(0)
    return save_model(build_lrm("test"), tmp_path / "weights")


@pytest.fixture
def object_image(tmp_path):
    view = render_orbit(5, views=1, size=48)
    path = tmp_path / "object.png"
    Image.fromarray((view["images"][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def test_cli_writes_mesh_and_turntable(trained_lrm, object_image, tmp_path, capsys):
    trimesh = pytest.importorskip("trimesh")
    out = tmp_path / "out"
    code = main(["single-image", str(object_image), "--weights", str(trained_lrm[1]), "--out", str(out),
                 "--resolution", "16", "--frames", "6", "--frame-size", "24"])
    assert code == 0
    for name in ("mesh.glb", "mesh.ply", "turntable.gif"):
        assert (out / name).stat().st_size > 0
    assert sorted(p.name for p in (out / "frames").glob("*.png")) == [f"frame_{i:03d}.png" for i in range(6)]
    with Image.open(out / "turntable.gif") as gif:
        assert gif.n_frames == 6 and gif.size == (24, 24)
    mesh = trimesh.load(out / "mesh.glb", force="mesh")
    assert len(mesh.faces) > 0 and np.abs(mesh.vertices).max() <= 1.0 + 1e-5
    assert "wrote" in capsys.readouterr().out


def test_cli_without_weights_says_how_to_train(object_image, tmp_path, capsys):
    assert main(["single-image", str(object_image), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--weights" in err and "train_lrm" in err and "benchmarks/lrm.py" in err


def test_cli_names_an_unreadable_image(tiny_weights, tmp_path, capsys):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    assert main(["single-image", str(bad), "--weights", str(tiny_weights), "--out", str(tmp_path / "o")]) == 2
    assert "not_an_image.png" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_refuses_weights_of_another_model(tmp_path, object_image, capsys):
    from recon3r.models.point3r import POINT3R_CONFIGS, Point3R

    weights = save_model(Point3R(**POINT3R_CONFIGS["test"]), tmp_path / "p3r")
    assert main(["single-image", str(object_image), "--weights", str(weights), "--out", str(tmp_path / "o")]) == 2
    assert "not the LRM model" in capsys.readouterr().err


def test_turntable_frame_zero_is_the_source_pose_and_cameras_look_at_the_origin():
    poses = turntable_poses(8, 2.2, torch.float64)
    torch.testing.assert_close(poses[0], torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -2.2], [0, 0, 0, 1]],
                                                      dtype=torch.float64))
    forward = poses[:, :3, 2]
    centres = poses[:, :3, 3]
    torch.testing.assert_close(forward, -centres / 2.2)  # optical axes through the origin
    assert torch.allclose(centres.norm(dim=-1), torch.full((8,), 2.2, dtype=torch.float64))
    torch.testing.assert_close(centres[4], torch.tensor([0.0, 0.0, 2.2], dtype=torch.float64), atol=1e-12, rtol=0)


def test_reconstruct_single_with_the_trained_model_renders_the_source_view(trained_lrm, tmp_path):
    from recon3r.lrm import reconstruct_single
    from recon3r.models.checkpoint import load_model

    _, weights = trained_lrm
    model = load_model(weights)
    data = render_orbit(100_001, views=1, size=32)  # a held-out scene (see recon3r.lrm.train.TEST_SCENE_OFFSET)
    image = (data["images"][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    result = reconstruct_single(image, model, resolution=24, frames=4, fov_deg=50.0)
    assert result.planes.shape[:2] == (1, 3) and len(result.frames) == 4
    target = data["images"][0].permute(1, 2, 0).numpy()
    mse_source = float(((result.frames[0] / 255.0 - target) ** 2).mean())
    mse_flat = float(((target.mean(axis=(0, 1)) - target) ** 2).mean())
    assert mse_source < mse_flat  # frame 0 (source pose) looks like the input, better than its mean colour
