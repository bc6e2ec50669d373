"""`recon3r data co3d`: raw CO3D v2 (written here in its real formats) → the Co3d loader's layout."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from recon3r.cli import main
from recon3r.data import Co3d
from recon3r.data.prepare.co3d import Co3dPrepareConfig, prepare_co3d
from recon3r.geometry import opencv_from_pytorch3d

PLANE_NORMAL = np.array([0.0, 0.3, 1.0]) / np.linalg.norm([0.0, 0.3, 1.0])
PLANE_OFFSET = -0.2  # the fixture's plane (tests/conftest.py CO3D_PLANE)


def pytorch3d_pixel(R, T, focal, principal, height, width, point, isotropic=True):
    """Where PyTorch3D's renderers put a world point, in pixels with pixel centres at integers (float64).

    NDC ±1 on the image edges (align_corners=False): x_ndc = f·X/Z + p with +x left, +y up.
    """
    view = point @ R + T
    ndc = focal * view[:2] / view[2] + principal
    half = np.array([width, height]) / 2
    scale = np.full(2, half.min()) if isotropic else half
    return half - ndc * scale - 0.5


@pytest.mark.parametrize("isotropic", [True, False])
def test_opencv_from_pytorch3d_projects_where_pytorch3d_renders(isotropic):
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    R = q * np.sign(np.linalg.det(q))
    T = np.array([0.1, -0.2, 4.0])
    focal, principal = np.array([1.3, 1.1]), np.array([0.05, -0.1])
    height, width = 48, 80
    K, cam_from_world = opencv_from_pytorch3d(
        *(torch.tensor(a)[None] for a in (R, T, focal, principal, np.array([height, width], float))), isotropic=isotropic)
    K, cam_from_world = K[0].numpy(), cam_from_world[0].numpy()
    for point in rng.normal(size=(5, 3)) * 0.5:
        cam = cam_from_world[:3, :3] @ point + cam_from_world[:3, 3]
        assert cam[2] > 0  # OpenCV z is forward, as PyTorch3D's
        pixel = (K @ cam)[:2] / cam[2]
        np.testing.assert_allclose(pixel, pytorch3d_pixel(R, T, focal, principal, height, width, point, isotropic),
                                   atol=1e-9)
    assert np.linalg.det(cam_from_world[:3, :3]) == pytest.approx(1.0)


def test_opencv_from_pytorch3d_rejects_bad_shapes():
    with pytest.raises(ValueError, match="expected R"):
        opencv_from_pytorch3d(torch.eye(3), torch.zeros(1, 3), torch.ones(1, 2), torch.zeros(1, 2), torch.ones(1, 2))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, raw_co3d):
    raw = tmp_path_factory.mktemp("co3d_raw")
    expected = raw_co3d(raw)
    out = tmp_path_factory.mktemp("co3d_out") / "processed"
    # img_size 22 with 72×48 frames: an exact 1/3 downscale (24×16), so depth pixels keep their rays.
    report = prepare_co3d(Co3dPrepareConfig(co3d_dir=str(raw), output_dir=str(out), single_sequence_subset=True,
                                            img_size=22, progress=False))
    return raw, out, expected, report


def test_selected_frames_and_skipped_ones_with_reasons(prepared):
    _, out, expected, report = prepared
    selected = json.loads((out / "selected_seqs_train.json").read_text())
    assert selected == expected
    test_split = json.loads((out / "selected_seqs_test.json").read_text())
    assert all(frames == [4] for seqs in test_split.values() for frames in seqs.values())
    skipped = {item: reason for item, reason in report.skipped}
    assert "missing depth map" in skipped["apple/100_0_seq/frame000002"]
    assert "viewpoint_quality_score 0.1" in skipped["apple/999_low_quality"]
    assert json.loads((out / "skipped_frames.json").read_text())  # written for the user too
    assert "skipped" in report.summary("x") and report.written == sum(len(f) for s in expected.values() for f in s.values()) + 4


def test_prepared_cameras_and_depth_put_every_pixel_on_the_scene_plane(prepared):
    _, out, expected, _ = prepared
    for category, sequences in expected.items():
        for seq, frames in sequences.items():
            for frame in frames:
                folder = out / category / seq
                meta = np.load(folder / "images" / f"frame{frame:06d}.npz")
                K, pose = meta["camera_intrinsics"].astype(np.float64), meta["camera_pose"].astype(np.float64)
                depth = np.asarray(Image.open(folder / "depths" / f"frame{frame:06d}.jpg.geometric.png"), np.float64)
                depth = depth / 65535 * float(meta["maximum_depth"])
                assert depth.shape == (16, 24) and Image.open(folder / "images" / f"frame{frame:06d}.jpg").size == (24, 16)
                u, v = np.meshgrid(np.arange(24), np.arange(16))
                cam = np.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], -1)
                world = cam @ pose[:3, :3].T + pose[:3, 3]
                distance = np.abs(world @ PLANE_NORMAL - PLANE_OFFSET)
                # float16 storage (~5e-4 relative) and 16-bit normalisation bound the error.
                assert distance.max() < 2e-3 * depth.max(), (category, seq, frame, distance.max())
                mask = np.asarray(Image.open(folder / "masks" / f"frame{frame:06d}.png"))
                assert mask.dtype == np.uint8 and mask.max() == 255 and mask.min() == 0


def test_co3d_loader_reads_the_output(prepared):
    _, out, expected, _ = prepared
    dataset = Co3d(ROOT=str(out), split="train", resolution=(24, 16), seed=1)
    assert dataset.num_scenes == sum(len(s) for s in expected.values())
    view1, view2 = dataset[0]
    assert view1["img"].shape == (3, 16, 24) and view1["valid_mask"].any() and math.isfinite(float(view1["pts3d"].sum()))


def test_rerun_resumes_and_rewrites_only_what_is_missing(prepared, capsys):
    raw, out, expected, first = prepared
    total = first.written
    again = prepare_co3d(Co3dPrepareConfig(co3d_dir=str(raw), output_dir=str(out), single_sequence_subset=True,
                                           img_size=22, progress=False))
    assert again.written == 0 and again.resumed == total
    assert sorted(again.skipped) == sorted(first.skipped)  # skips of finished categories are still reported
    # An interrupted category: its done-file and one frame are gone; only that frame is written again.
    (out / "ball" / "selected_seqs_train.json").unlink()
    (out / "ball" / "101_1_seq" / "images" / "frame000001.npz").unlink()
    code = main(["data", "co3d", "--co3d_dir", str(raw), "--output_dir", str(out), "--single_sequence_subset",
                 "--img_size", "22", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"1 written, {total - 1} already there (resumed)" in printed
    assert "skipped 1: missing depth map" in printed and "Co3d(ROOT=" in printed
    assert json.loads((out / "selected_seqs_train.json").read_text()) == expected


def test_missing_raw_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["data", "co3d", "--co3d_dir", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --co3d_dir {tmp_path / 'nope'} is not a folder"


def test_one_training_step_on_the_output_with_dust3rs_co3d_spec(prepared, tmp_path):
    from recon3r.train.config import TrainConfig
    from recon3r.train.trainer import train

    _, out, _, _ = prepared
    spec = f"1000 @ Co3d(split='train', ROOT='{out}', aug_crop=16, mask_bg='rand', resolution=224, transform=ColorJitter)"
    model = ("AsymmetricCroCo3DStereo(pos_embed='RoPE100', img_size=(224, 224), head_type='linear', output_mode='pts3d', "
             "depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), enc_embed_dim=32, enc_depth=2, enc_num_heads=2, "
             "dec_embed_dim=32, dec_depth=2, dec_num_heads=2)")
    summary = train(TrainConfig(model=model, train_dataset=spec, max_steps=1, batch_size=2, lr=1e-4, device="cpu",
                                output_dir=str(tmp_path / "run"), log_freq=1), show_progress=False)
    assert summary["global_step"] == 1 and np.isfinite(summary["train"]["loss"])
