"""Loaders of the real benchmark sets in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recon3r.errors import Recon3rError
from recon3r.eval.realsets import load_calibrated_ring, load_real_set, load_stereo_pair

# Tight bounding box of the dino from the dataset's README (world frame, metres).
DINO_BOX = np.array([[-0.061897, -0.018874, -0.057845], [0.010897, 0.068227, 0.015495]])


@pytest.fixture(scope="module")
def dino(shared_path) -> Path:
    return shared_path("data", "middlebury_dino_sparse_ring")


@pytest.fixture(scope="module")
def teddy(shared_path) -> Path:
    return shared_path("data", "middlebury2003_teddy")


def project(
    world_from_cam: np.ndarray, intrinsics: np.ndarray, point: np.ndarray
) -> tuple[np.ndarray, float]:
    cam = np.linalg.inv(world_from_cam) @ np.append(point, 1.0)
    pixel = intrinsics @ cam[:3]
    return pixel[:2] / pixel[2], cam[2]


class TestDinoRing:
    def test_sixteen_calibrated_images(self, dino):
        ring = load_calibrated_ring(dino)
        assert (
            len(ring) == 16
            and ring.world_from_cam.shape == (16, 4, 4)
            and ring.intrinsics.shape == (16, 3, 3)
        )
        assert ring.image_sizes == [(512, 384)] * 16
        assert [p.name for p in ring.image_paths] == [f"dinoSR{i:04d}.png" for i in range(1, 17)]
        rot = ring.world_from_cam[:, :3, :3]
        np.testing.assert_allclose(
            rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (16, 3, 3)), atol=1e-12
        )

    def test_object_projects_in_front_of_every_camera_and_inside_its_image(self, dino):
        ring = load_calibrated_ring(dino)
        centre = DINO_BOX.mean(0)
        for pose, k in zip(ring.world_from_cam, ring.intrinsics):
            pixel, depth = project(pose, k, centre)
            assert depth > 0
            assert 0 <= pixel[0] < 512 and 0 <= pixel[1] < 384
        # The cameras sit on a ring around the object, about 0.65 m away.
        distances = np.linalg.norm(ring.world_from_cam[:, :3, 3] - centre, axis=1)
        assert np.all((0.4 < distances) & (distances < 1.0))

    def test_json_and_par_txt_give_the_same_cameras(self, dino, tmp_path):
        (tmp_path / "images").symlink_to(dino / "images")
        (tmp_path / "dinoSR_par.txt").write_text((dino / "dinoSR_par_512x384.txt").read_text())
        from_txt = load_calibrated_ring(tmp_path)
        from_json = load_calibrated_ring(dino)
        np.testing.assert_allclose(from_txt.world_from_cam, from_json.world_from_cam, atol=1e-12)
        np.testing.assert_allclose(from_txt.intrinsics, from_json.intrinsics)

    def test_missing_image_is_named(self, dino, tmp_path):
        (tmp_path / "dinoSR_par.txt").write_text((dino / "dinoSR_par_512x384.txt").read_text())
        with pytest.raises(Recon3rError, match="dinoSR0001.png is missing"):
            load_calibrated_ring(tmp_path)

    def test_bad_calibration_line_is_named(self, tmp_path):
        (tmp_path / "x_par.txt").write_text("1\nimg.png 1 2 3\n")
        with pytest.raises(Recon3rError, match="line 2"):
            load_calibrated_ring(tmp_path)


class TestTeddy:
    def test_disparity_depth_and_coverage(self, teddy):
        pair = load_stereo_pair(teddy)
        assert pair.disparity.shape == (375, 450)
        assert 0.95 < pair.valid.mean() < 1.0
        d = pair.disparity[pair.valid]
        assert 12 <= d.min() and d.max() <= 54
        np.testing.assert_allclose(pair.depth[pair.valid], 1 / d)
        assert np.isnan(pair.depth[~pair.valid]).all()

    def test_left_and_right_disparities_agree_at_matching_pixels(self, teddy):
        # x in the left image matches x − d in the right one: the right view's GT disparity
        # at that pixel is the same for visible (non-occluded) points.
        left = load_stereo_pair(teddy)
        right = np.asarray(Image.open(teddy / "disp6.png"), float) / 4
        ys, xs = np.nonzero(left.valid)
        xr = np.round(xs - left.disparity[ys, xs]).astype(int)
        inside = xr >= 0
        agree = np.abs(right[ys[inside], xr[inside]] - left.disparity[ys[inside], xs[inside]]) <= 1
        assert agree.mean() > 0.85
        # The opposite sign convention would not match.
        xw = np.round(xs + left.disparity[ys, xs]).astype(int)
        inside = xw < 450
        assert (
            np.abs(right[ys[inside], xw[inside]] - left.disparity[ys[inside], xs[inside]]) <= 1
        ).mean() < 0.5


def test_load_real_set_recognises_both_layouts(dino, teddy, tmp_path):
    assert len(load_real_set(dino)) == 16
    assert load_real_set(teddy).disparity.shape == (375, 450)
    with pytest.raises(Recon3rError, match="not a known real benchmark"):
        load_real_set(tmp_path)


def test_teddy_depth_is_evaluated_up_to_scale(teddy):
    from recon3r.eval.metrics import depth_metrics

    pair = load_stereo_pair(teddy)
    pred = np.nan_to_num(pair.depth, nan=1.0) * 250.0  # any focal·baseline, NaN holes filled
    assert depth_metrics(pred, pair.depth, mask=pair.valid, align="median")["abs_rel"] == pytest.approx(
        0, abs=1e-12
    )
    flat = np.full_like(pred, float(np.nanmedian(pair.depth)))  # a constant depth is far from the GT
    assert depth_metrics(flat, pair.depth, mask=pair.valid, align="median")["abs_rel"] > 0.1
