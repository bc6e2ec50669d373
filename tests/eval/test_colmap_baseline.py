"""The classical COLMAP baseline on the real Middlebury dino ring (16 photos)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from recon3r.errors import ImageLoadError, Recon3rError
from recon3r.eval.colmap_baseline import run_colmap
from recon3r.eval.metrics import FAILURE_ERROR_DEG, image_pairs, relative_pose_errors, relpose_metrics
from recon3r.eval.realsets import load_calibrated_ring


@pytest.fixture(scope="module")
def ring(shared_path):
    return load_calibrated_ring(shared_path("data", "middlebury_dino_sparse_ring"))


@pytest.fixture(scope="module")
def known_k_with_noise(ring, tmp_path_factory):
    """COLMAP with the calibrated K on the 16 photos plus a 17th image of pure noise."""
    noise = tmp_path_factory.mktemp("noise") / "noise.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (384, 512, 3), dtype=np.uint8)).save(noise)
    intrinsics = np.concatenate([ring.intrinsics, ring.intrinsics[:1]])
    return run_colmap([*ring.image_paths, noise], intrinsics=intrinsics)


def test_known_intrinsics_register_part_of_the_ring_accurately(ring, known_k_with_noise):
    result = known_k_with_noise
    real = slice(0, 16)
    registered = result.registered[real]
    # Plain COLMAP is a hard baseline on this sparse, untextured ring: some views register.
    assert 4 <= registered.sum() <= 16
    rot, trans = relative_pose_errors(
        result.world_from_cam[real][registered], ring.world_from_cam[registered]
    )
    assert rot.max() < 3 and trans.max() < 3  # the registered views are calibrated-accurate
    # The known K go in and come out unchanged (COLMAP's +0.5 pixel-centre shift undone).
    np.testing.assert_allclose(result.intrinsics[real][registered], ring.intrinsics[registered], atol=1e-6)
    metrics = relpose_metrics(result.world_from_cam[real], ring.world_from_cam)
    pairs = registered.sum() * (registered.sum() - 1) / 2
    assert metrics["RRA@15"] == pytest.approx(100 * pairs / 120)
    assert metrics["RTA@15"] == pytest.approx(100 * pairs / 120)
    assert metrics["registered"] == registered.sum()


def test_unregistered_noise_image_counts_as_failure(ring, known_k_with_noise):
    result = known_k_with_noise
    assert not result.registered[16]
    assert np.isnan(result.world_from_cam[16]).all() and np.isnan(result.intrinsics[16]).all()
    # Give the noise image some GT pose: every pair it belongs to is a failure, not an omission.
    gt = np.concatenate([ring.world_from_cam, ring.world_from_cam[:1]])
    gt[16, :3, 3] += 0.1
    rot, trans = relative_pose_errors(result.world_from_cam, gt)
    i, j = image_pairs(17)
    with_noise = (i == 16) | (j == 16)
    assert with_noise.sum() == 16
    np.testing.assert_array_equal(rot[with_noise], FAILURE_ERROR_DEG)
    np.testing.assert_array_equal(trans[with_noise], FAILURE_ERROR_DEG)
    all17 = relpose_metrics(result.world_from_cam, gt)
    real16 = relpose_metrics(result.world_from_cam[:16], ring.world_from_cam)
    assert all17["pairs"] == 136 and all17["registered"] == real16["registered"]
    assert all17["RRA@15"] == pytest.approx(real16["RRA@15"] * 120 / 136)


def test_default_colmap_runs_without_calibration(ring):
    result = run_colmap(ring.image_paths)
    assert result.registered.sum() >= 2 and result.num_models >= 1 and result.num_points > 0
    assert np.isfinite(result.world_from_cam[result.registered]).all()
    metrics = relpose_metrics(result.world_from_cam, ring.world_from_cam)
    # Registered pairs are measured: COLMAP's rotations are good even with an estimated focal.
    pairs = result.registered.sum() * (result.registered.sum() - 1) / 2
    assert 0 < metrics["RRA@15"] <= 100 * pairs / 120
    assert 0 <= metrics["mAA@30"] <= metrics["RRA@30"]


def test_bad_inputs_are_named(ring, tmp_path):
    with pytest.raises(ImageLoadError, match="missing.png"):
        run_colmap([ring.image_paths[0], tmp_path / "missing.png"])
    with pytest.raises(Recon3rError, match="at least 2 images"):
        run_colmap(ring.image_paths[:1])
    with pytest.raises(Recon3rError, match="intrinsics"):
        run_colmap(ring.image_paths[:3], intrinsics=np.eye(3)[None])
