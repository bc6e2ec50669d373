"""`Co3d` on a fake tree in DUSt3R's processed layout, built from a procedural orbit."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from recon3r.data import Co3d, DatasetError
from recon3r.data.co3d import _COMBINATIONS
from recon3r.data.procedural import generate_scene


@pytest.fixture(scope="module")
def co3d_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("co3d")
    scene = generate_scene(seed=0, index=0, kind="orbit", views=5, size=48)
    folder = root / "apple" / "110_13051_23361"
    for sub in ("images", "depths", "masks"):
        (folder / sub).mkdir(parents=True)
    truth = []
    for frame in range(5):
        view, cam = scene.render(frame), scene.cameras[frame]
        stem = f"frame{frame:06d}"
        Image.fromarray(view.rgb).save(folder / "images" / f"{stem}.jpg", quality=95)
        max_depth = float(view.depth.max())
        scaled = (view.depth / max_depth * 65535).astype(np.uint16)
        Image.fromarray(scaled).save(folder / "depths" / f"{stem}.jpg.geometric.png")
        Image.fromarray(view.foreground.astype(np.uint8) * 255).save(folder / "masks" / f"{stem}.png")
        np.savez(folder / "images" / f"{stem}.npz", camera_intrinsics=cam.intrinsics.astype(np.float32),
                 camera_pose=cam.world_from_cam.astype(np.float32), maximum_depth=np.float32(max_depth))
        truth.append((view, cam))
    (root / "selected_seqs_train.json").write_text(json.dumps({"apple": {"110_13051_23361": list(range(5))}}))
    return root, truth


def test_pairs_follow_the_reference_combinations(co3d_root):
    root, _ = co3d_root
    ds = Co3d(ROOT=str(root), split="train", resolution=(48, 36))
    # One sequence × the reference's pairs: frame gaps 5, 10, ..., 30 among 100 positions.
    assert len(ds) == len(_COMBINATIONS) == sum(100 - gap for gap in range(5, 31, 5))
    views = ds[3]
    assert [v["label"] for v in views] == ["apple/110_13051_23361"] * 2
    assert all(re.fullmatch(r"frame\d{6}\.jpg", v["instance"]) for v in views)
    assert views[0]["dataset"] == "Co3d_v2"


def test_depth_is_decoded_with_maximum_depth_and_the_background_masked(co3d_root):
    root, truth = co3d_root
    masked = Co3d(ROOT=str(root), resolution=(48, 36)).scene(0)
    unmasked = Co3d(ROOT=str(root), resolution=(48, 36), mask_bg=False).scene(0)
    for frame, (view, cam) in enumerate(truth):
        step = view.depth.max() / 65535
        np.testing.assert_allclose(unmasked[frame]["depthmap"], view.depth, atol=step * 1.01)
        np.testing.assert_array_equal(masked[frame]["depthmap"] > 0, view.foreground & (view.depth > 0))
        np.testing.assert_allclose(unmasked[frame]["camera_pose"], cam.world_from_cam, atol=1e-6)


def test_missing_root_and_listing_are_named(co3d_root, tmp_path):
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "nope"))):
        Co3d(ROOT=str(tmp_path / "nope"))
    root, _ = co3d_root
    with pytest.raises(DatasetError, match=r"selected_seqs_test\.json"):
        Co3d(ROOT=str(root), split="test")


def test_malformed_listing_is_named(tmp_path):
    (tmp_path / "selected_seqs_train.json").write_text("[1, 2")
    with pytest.raises(DatasetError, match=r"malformed JSON in .*selected_seqs_train\.json"):
        Co3d(ROOT=str(tmp_path))


def test_missing_frame_file_is_named(co3d_root, tmp_path):
    root, _ = co3d_root
    listing = {"apple": {"110_13051_23361": [0, 99]}}
    fake = tmp_path / "co3d"
    fake.mkdir()
    (fake / "selected_seqs_train.json").write_text(json.dumps(listing))
    (fake / "apple").symlink_to(root / "apple")
    ds = Co3d(ROOT=str(fake), resolution=(48, 36))
    with pytest.raises(DatasetError, match=r"frame000099\.npz"):
        ds.scene(0)
