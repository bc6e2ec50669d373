"""Depth metrics (AbsRel, δ, RMSE) and the four alignment modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon3r.eval.metrics import align_depth, depth_errors, depth_metrics


def depth_sequence(frames: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 5.0, size=(frames, 6, 8))


class TestDepthErrors:
    def test_hand_computed_values(self):
        gt = np.array([[1.0, 2.0], [4.0, 10.0]])
        pred = np.array([[1.1, 2.0], [2.0, 10.0]])
        out = depth_errors(pred, gt)
        assert out["abs_rel"] == pytest.approx((0.1 + 0 + 0.5 + 0) / 4)
        # max(p/g, g/p) = 1.1, 1, 2, 1: below 1.25 for three pixels, below 1.25² = 1.5625 also
        # three, below 1.25³ = 1.953 three (2 is not below it).
        assert out["delta_1"] == pytest.approx(75)
        assert out["delta_2"] == pytest.approx(75)
        assert out["delta_3"] == pytest.approx(75)
        assert out["rmse"] == pytest.approx(np.sqrt((0.01 + 4) / 4))
        assert out["pixels"] == 4

    def test_invalid_gt_and_mask_are_ignored(self):
        gt = np.array([[1.0, 0.0], [np.nan, 2.0]])
        pred = np.array([[1.0, 7.0], [7.0, 3.0]])
        out = depth_errors(pred, gt, mask=np.array([[True, True], [True, False]]))
        assert out["pixels"] == 1 and out["abs_rel"] == 0

    def test_non_positive_prediction_is_never_accurate(self):
        out = depth_errors(np.array([[-1.0, 1.0]]), np.array([[1.0, 1.0]]))
        assert out["delta_3"] == pytest.approx(50)

    def test_perfect_prediction(self):
        gt = depth_sequence()
        out = depth_errors(gt, gt)
        assert out["abs_rel"] == 0 and out["rmse"] == 0 and out["delta_1"] == 100

    def test_torch_float32_input(self):
        gt = torch.from_numpy(depth_sequence()).float()
        assert depth_errors(gt * 1.1, gt)["abs_rel"] == pytest.approx(0.1, rel=1e-5)

    def test_rejects_shape_mismatch(self):
        with pytest.raises(ValueError, match="pred and gt depth"):
            depth_errors(np.ones((2, 3)), np.ones((3, 2)))


class TestAlignDepth:
    def test_none_is_metric(self):
        gt = depth_sequence()
        out = depth_metrics(gt * 2, gt, align="none")
        assert out["abs_rel"] == pytest.approx(1.0)

    def test_median_removes_a_different_scale_per_frame(self):
        gt = depth_sequence()
        pred = gt * np.array([0.5, 2.0, 7.0])[:, None, None]
        np.testing.assert_allclose(align_depth(pred, gt, mode="median"), gt)
        # One scale for the whole sequence cannot undo per-frame scales.
        assert depth_metrics(pred, gt, align="scale")["abs_rel"] > 0.1

    def test_median_uses_medians_not_means(self):
        gt = np.array([[1.0, 2.0, 30.0]])
        pred = np.array([[1.0, 1.0, 1.0]])
        np.testing.assert_allclose(align_depth(pred, gt, mode="median"), [[2.0, 2.0, 2.0]])

    def test_scale_recovers_a_sequence_scale_despite_outliers(self):
        gt = depth_sequence(frames=4)
        pred = gt / 3.0
        pred[0, :2, :] = 0.05  # 8% of pixels are gross outliers
        aligned = align_depth(pred, gt, mode="scale")
        np.testing.assert_allclose(aligned[1:], gt[1:], rtol=1e-12)

    def test_scale_is_the_l1_optimum(self):
        rng = np.random.default_rng(3)
        gt, pred = rng.uniform(1, 2, size=(1, 5, 5)), rng.uniform(1, 2, size=(1, 5, 5))
        s = (align_depth(pred, gt, mode="scale") / pred).mean()
        cost = lambda k: np.abs(k * pred - gt).sum()
        assert cost(s) <= min(cost(s * 1.001), cost(s * 0.999))

    def test_scale_and_shift_least_squares_recovers_a_planted_affine_map(self):
        gt = depth_sequence()
        pred = (gt - 0.7) / 2.5
        out = depth_metrics(pred, gt, align="scale&shift")
        assert out["abs_rel"] == pytest.approx(0, abs=1e-12) and out["delta_1"] == 100
        np.testing.assert_allclose(align_depth(pred, gt, mode="scale&shift"), gt)

    def test_scale_and_shift_l1_ignores_outliers_that_bias_least_squares(self):
        gt = depth_sequence(frames=2, seed=4)
        pred = gt * 0.4 + 1.0
        # Wrong values inside the inliers' range (L1 regression resists these, not leverage points).
        pred[0, 0, :5] = [3.0, 1.4, 2.9, 1.5, 3.0]
        l1 = align_depth(pred, gt, mode="scale&shift", loss="l1")
        np.testing.assert_allclose(l1[1], gt[1], rtol=1e-6)
        l2 = align_depth(pred, gt, mode="scale&shift", loss="l2")
        assert np.abs(l2[1] - gt[1]).max() > 0.05

    def test_alignment_ignores_masked_pixels(self):
        gt = depth_sequence(frames=1)[0]
        pred = gt * 2.0
        pred[0, 0] = 1e6
        mask = np.ones_like(gt, bool)
        mask[0, 0] = False
        out = depth_metrics(pred, gt, mask=mask, align="scale&shift")
        assert out["abs_rel"] == pytest.approx(0, abs=1e-9)

    def test_unknown_mode_is_rejected(self):
        with pytest.raises(ValueError, match="unknown depth alignment"):
            align_depth(np.ones((2, 2)), np.ones((2, 2)), mode="affine")

    def test_order_of_frames_does_not_matter(self):
        gt = depth_sequence(frames=5, seed=5)
        pred = gt * 1.3 + np.random.default_rng(6).normal(scale=0.2, size=gt.shape)
        order = [3, 0, 4, 1, 2]
        for mode in ("none", "median", "scale", "scale&shift"):
            assert depth_metrics(pred, gt, align=mode) == pytest.approx(
                depth_metrics(pred[order], gt[order], align=mode)
            )
