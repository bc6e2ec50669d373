"""`recon3r reconstruct` end to end with a tiny random-weight checkpoint, plus known-camera files."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from recon3r.cli import main
from recon3r.errors import ConfigError
from recon3r.io.camera_files import read_intrinsics_file, read_poses_file
from recon3r.reconstruct import ReconstructConfig, reconstruct


@pytest.fixture(scope="module")
def photos(photo_paths):
    return photo_paths[0].parent


def test_cli_writes_every_output_and_a_summary(tiny_weights, photos, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["reconstruct", str(photos), "--weights", str(tiny_weights), "--out", str(out), "--niter", "5",
                 "--size", "224", "--quiet"])
    assert code == 0
    for name in ("points.ply", "scene.glb", "sparse/0/cameras.txt", "sparse/0/images.txt", "sparse/0/points3D.txt",
                 "transforms.json", "scene.npz", "images/view_0.png"):
        assert (out / name).is_file(), name
    printed = capsys.readouterr().out
    assert "images used: 3 (6 pairs at 224 px)" in printed and "mean confidence:" in printed and str(out) in printed


def test_known_intrinsics_and_poses_stay_fixed(tiny_weights, photos, tmp_path):
    # Original images are 400x300; at size 224 they are scaled by 224/300 and centre-cropped to 224x224.
    K = [[350.0, 0, 199.5], [0, 350.0, 149.5], [0, 0, 1]]
    (tmp_path / "K.json").write_text(json.dumps({"*": {"K": K}}))
    pose = np.eye(4)
    pose[:3, 3] = [0.1, -0.2, 0.3]
    (tmp_path / "poses.json").write_text(json.dumps({"view_0.png": np.eye(4).tolist(), "view_1": pose.tolist()}))
    config = ReconstructConfig(images=[str(photos)], weights=str(tiny_weights), size=224, niter=5,
                               intrinsics=str(tmp_path / "K.json"), poses=str(tmp_path / "poses.json"), progress=False)
    scene = reconstruct(config).scene
    np.testing.assert_allclose(scene.intrinsics_original(), np.stack([K] * 3), atol=1e-4)
    np.testing.assert_allclose(scene.world_from_cam[0], np.eye(4), atol=1e-5)
    np.testing.assert_allclose(scene.world_from_cam[1], pose, atol=1e-5)


def test_camera_files_name_bad_entries(tmp_path):
    names = ["a.jpg", "b.jpg"]
    path = tmp_path / "K.json"
    path.write_text(json.dumps({"c.jpg": {"focal": 10}}))
    with pytest.raises(ConfigError, match="no image named 'c.jpg'"):
        read_intrinsics_file(path, names)
    path.write_text(json.dumps({"a.jpg": {"fx": "wide", "fy": 1, "cx": 1, "cy": 1}}))
    with pytest.raises(ConfigError, match="a.jpg.fx must be a number"):
        read_intrinsics_file(path, names)
    path.write_text(json.dumps({"b": {"focal": 12.5}}))
    assert read_intrinsics_file(path, names) == ({}, {1: 12.5})
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_poses_file(path, names)
    path.write_text(json.dumps({"a.jpg": (2 * np.eye(4)).tolist()}))
    with pytest.raises(ConfigError, match="does not hold a rotation"):
        read_poses_file(path, names)


def test_single_image_is_a_clear_error(tiny_weights, photos, tmp_path):
    code = main(["reconstruct", str(photos / "view_0.png"), "--weights", str(tiny_weights), "--out", str(tmp_path)])
    assert code == 2


def test_captions_reach_a_multimodal_model_from_file_and_exif(tmp_path, photos, tiny_weights):
    from recon3r.models import AsymmetricCroCo3DStereoAndText

    folder = tmp_path / "imgs"
    folder.mkdir()
    for k in range(2):
        Image.open(photos / f"view_{k}.png").save(folder / f"view_{k}.png")
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "Canon EOS 5D"  # Model
    Image.open(photos / "view_2.png").convert("RGB").save(folder / "view_2.jpg", exif=exif)
    (tmp_path / "captions.json").write_text(json.dumps({"view_0.png": "a room seen from the door"}))

    torch.manual_seed(0)
    model = AsymmetricCroCo3DStereoAndText(text_encoder="tiny", fusion="film", **json.loads((tiny_weights / "config.json").read_text())["kwargs"])
    seen: list[str] = []
    original_forward = model.forward

    def spy(view1, view2):
        seen.extend(view1["caption"])
        return original_forward(view1, view2)

    model.forward = spy
    config = ReconstructConfig(images=[str(folder)], captions=str(tmp_path / "captions.json"), size=224, niter=3,
                               progress=False)
    result = reconstruct(config, model=model)
    assert len(result.scene) == 3
    assert "a room seen from the door" in seen
    assert any(c.startswith("Make: Canon, Model: Canon EOS 5D") for c in seen)
    assert "" in seen  # view_1 has neither a caption nor EXIF: the model's null caption


def test_random_weights_give_finite_cameras_on_real_photos(tiny_weights, shared_path):
    """A degenerate model (random weights: points behind the camera) must not turn into NaN poses."""
    ring = shared_path("data", "middlebury_dino_sparse_ring", "images")
    images = [f"{ring}/dinoSR000{k}.png" for k in (1, 2, 3, 4)]
    for count in (2, 4):  # the two-view (PnP) path and the optimiser
        scene = reconstruct(ReconstructConfig(images=images[:count], weights=str(tiny_weights), size=224, niter=10,
                                              progress=False)).scene
        assert np.isfinite(scene.world_from_cam).all() and np.isfinite(scene.intrinsics).all()
        assert all(np.isfinite(p).all() for p in scene.points)


def test_bfloat16_model_and_fast_alignment_from_the_command_line(tiny_weights, photos, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["reconstruct", str(photos), "--weights", str(tiny_weights), "--out", str(out), "--size", "224",
                 "--dtype", "bfloat16", "--align-mode", "fast", "--formats", "npz", "--quiet"])
    assert code == 0 and (out / "scene.npz").is_file()
    assert "model in bfloat16, fast alignment" in capsys.readouterr().out


def test_dpt_head_in_bfloat16_from_the_command_line(photos, tmp_path, capsys):
    from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo, save_model

    weights, out = tmp_path / "dpt", tmp_path / "out"
    torch.manual_seed(0)
    save_model(AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_dpt"]), weights)
    code = main(["reconstruct", str(photos), "--weights", str(weights), "--out", str(out), "--size", "224",
                 "--dtype", "bfloat16", "--head-dtype", "bfloat16", "--niter", "5", "--formats", "npz", "--quiet"])
    assert code == 0 and (out / "scene.npz").is_file()
    assert "model in bfloat16 (DPT head in bfloat16), optimize alignment" in capsys.readouterr().out
    summary = reconstruct(ReconstructConfig(images=[str(photos)], weights=str(weights), size=224, niter=5, out=None,
                                            formats=(), head_dtype="bfloat16", progress=False)).summary
    assert summary["dtype"] == "float32" and summary["head_dtype"] == "bfloat16"
    code = main(["reconstruct", str(photos), "--weights", str(weights), "--out", str(tmp_path / "o2"),
                 "--head-dtype", "float16", "--device", "cpu", "--quiet"])
    assert code == 2 and "error: --head-dtype float16 needs an accelerator" in capsys.readouterr().err


def test_float16_on_the_cpu_is_refused_before_any_work(tiny_weights, photos, tmp_path, capsys):
    code = main(["reconstruct", str(photos), "--weights", str(tiny_weights), "--out", str(tmp_path / "out"),
                 "--dtype", "float16", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "error: --dtype float16 needs an accelerator; on the CPU use --dtype bfloat16" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_bundled_scene_in_bfloat16_gives_the_float32_poses():
    """`make demo`'s reconstruction (the shipped model, the bundled scene, default settings) in bfloat16
    (about 30 s on one CPU thread: two full reconstructions)."""
    from pathlib import Path

    from recon3r.eval.metrics import relative_pose_errors

    images = Path(__file__).resolve().parents[1] / "examples" / "procedural_scene" / "scene_00000" / "images"
    scenes = {dtype: reconstruct(ReconstructConfig(images=[str(images)], out=None, dtype=dtype, formats=(),
                                                   progress=False)).scene
              for dtype in ("float32", "bfloat16")}
    assert scenes["bfloat16"].metadata["reconstruct"]["dtype"] == "bfloat16"
    rotation, translation = relative_pose_errors(scenes["bfloat16"].world_from_cam, scenes["float32"].world_from_cam)
    assert max(rotation) < 1.0 and max(translation) < 1.0, (rotation, translation)
