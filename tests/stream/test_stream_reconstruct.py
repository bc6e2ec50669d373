"""reconstruct_stream and `recon3r stream`: cameras from pointmaps, exports that reload, clear errors."""

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from recon3r.cli import main
from recon3r.commands.stream import add_arguments, run
from recon3r.errors import CheckpointError, ImageLoadError
from recon3r.models import load_model
from recon3r.stream import reconstruct_stream
from recon3r.stream.reconstruct import cameras_from_pointmaps
from recon3r.stream.train import load_sequences, window


@pytest.fixture(scope="module")
def frame_paths(tmp_path_factory):
    """Four 64×48 frames of a held-out procedural walk-through, as PNG files."""
    seq = load_sequences("test", scenes=1, views=4, image_size=(48, 64), scene_seed=3)[0]
    folder = tmp_path_factory.mktemp("stream_frames")
    for t, img in enumerate(seq["img"]):
        rgb = ((img.permute(1, 2, 0).numpy() * 0.5 + 0.5) * 255).round().astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"frame_{t:02d}.png")
    return folder, seq


def test_cameras_from_exact_pointmaps_recover_the_true_poses_and_focal():
    seq = load_sequences("test", scenes=1, views=3, image_size=(24, 32))[0]
    _, gt = window(seq, 0, 3)
    valid = gt["valid"].double()
    poses, focal = cameras_from_pointmaps(gt["pts3d"].double(), gt["pts3d_cam"].double(), valid)
    torch.testing.assert_close(poses, gt["world_from_cam"].double(), atol=1e-4, rtol=0)
    # the renderer's principal point is not exactly the image centre: a per-cent level agreement
    np.testing.assert_allclose(focal.numpy(), gt["intrinsics"][:, 0, 0].numpy(), rtol=0.05)


def test_reconstruct_stream_on_files(trained_stream, frame_paths):
    _, weights = trained_stream
    folder, _ = frame_paths
    result = reconstruct_stream(folder, load_model(weights), size=64)
    assert result.names == [f"frame_{t:02d}.png" for t in range(4)]
    assert result.points.shape == (4, 48, 64, 3) and result.conf.shape == (4, 48, 64)
    assert result.world_from_cam.shape == (4, 4, 4) and result.intrinsics.shape == (4, 3, 3)
    np.testing.assert_allclose(result.world_from_cam[:, :3, :3] @ result.world_from_cam[:, :3, :3].transpose(0, 2, 1),
                               np.broadcast_to(np.eye(3), (4, 3, 3)), atol=1e-6)
    assert (result.intrinsics[:, 0, 0] > 0).all()
    sizes = result.memory_sizes
    assert sizes[0] == 48 and (np.diff(sizes) >= 0).all() and sizes[-1] <= 4 * 48
    np.testing.assert_allclose(result.depths, result.points_cam[..., 2])


def test_cli_writes_a_ply_and_npz_that_reload(trained_stream, frame_paths, tmp_path, capsys):
    from plyfile import PlyData

    from recon3r.io.exports.npz import load_scene_npz

    _, weights = trained_stream
    folder, _ = frame_paths
    out = tmp_path / "out"
    assert main(["stream", str(folder), "--weights", str(weights), "--out", str(out), "--size", "64"]) == 0
    assert "pointers" in capsys.readouterr().out
    vertices = PlyData.read(str(out / "points.ply"))["vertex"]
    assert 0 < vertices.count <= 4 * 48 * 64
    scene = load_scene_npz(out / "scene.npz")
    assert len(scene) == 4 and scene.points[0].shape == (48, 64, 3)
    memory = json.loads((out / "memory.json").read_text())
    assert memory["memory_sizes"][0] == 48


def test_cli_without_weights_says_how_to_train_one(frame_paths, tmp_path, capsys):
    folder, _ = frame_paths
    assert main(["stream", str(folder), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--weights" in err and "train_stream" in err


def test_bad_image_is_named(trained_stream, tmp_path):
    _, weights = trained_stream
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    with pytest.raises(ImageLoadError, match="broken.png"):
        reconstruct_stream([bad], load_model(weights))


def test_a_pair_model_is_refused_by_the_cli(tiny_weights, frame_paths, tmp_path):
    folder, _ = frame_paths
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(folder), "--weights", str(tiny_weights), "--out", str(tmp_path)])
    with pytest.raises(CheckpointError, match="not the Point3R model"):
        run(args)
