"""Relative pose metrics: geodesic angles, folded translation angles, RRA/RTA and mAA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from recon3r.eval.metrics import (
    FAILURE_ERROR_DEG,
    accuracy_at,
    image_pairs,
    mean_average_accuracy,
    relative_pose_errors,
    relpose_metrics,
    rotation_angle,
    translation_angle,
)


def random_poses(num: int, rng: np.random.Generator, batch: tuple[int, ...] = ()) -> np.ndarray:
    """(*batch, num, 4, 4) world_from_cam poses with Haar rotations and Gaussian centres."""
    count = int(np.prod(batch, dtype=int)) * num
    poses = np.tile(np.eye(4), (count, 1, 1))
    poses[:, :3, :3] = Rotation.random(count, random_state=rng).as_matrix()
    poses[:, :3, 3] = rng.normal(size=(count, 3))
    return poses.reshape(*batch, num, 4, 4)


def similarity(scale: float, rotvec, translation) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = scale * Rotation.from_rotvec(rotvec).as_matrix()
    out[:3, 3] = translation
    return out


def move_world(sim: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Apply a world similarity to cam-to-world poses, keeping them rigid."""
    scale = np.cbrt(np.linalg.det(sim[:3, :3]))
    out = sim @ poses
    out[..., :3, :3] /= scale
    return out


def rot_z(deg: float) -> np.ndarray:
    return Rotation.from_euler("z", deg, degrees=True).as_matrix()


class TestRotationAngle:
    def test_known_rotations(self):
        assert rotation_angle(np.eye(3), rot_z(30)) == pytest.approx(30)
        assert rotation_angle(rot_z(-70), rot_z(50)) == pytest.approx(120)
        assert rotation_angle(np.eye(3), rot_z(180)) == pytest.approx(180)
        flip_x = Rotation.from_euler("x", 180, degrees=True).as_matrix()
        assert rotation_angle(np.eye(3), flip_x) == pytest.approx(180)

    def test_accurate_near_zero(self):
        tiny = Rotation.from_rotvec([1e-7, 0, 0]).as_matrix()
        assert rotation_angle(np.eye(3), tiny) == pytest.approx(np.rad2deg(1e-7), rel=1e-6)

    def test_batched_torch_keeps_type_and_dtype(self):
        a = torch.from_numpy(Rotation.random(5, random_state=0).as_matrix()).float()
        out = rotation_angle(a, a)
        assert isinstance(out, torch.Tensor) and out.shape == (5,) and out.dtype == torch.float32
        assert torch.allclose(out, torch.zeros(5), atol=0.05)

    def test_numpy_in_numpy_out(self):
        out = rotation_angle(np.stack([np.eye(3), rot_z(10)]), np.stack([rot_z(5), np.eye(3)]))
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, [5, 10])


class TestTranslationAngle:
    def test_flipped_translation_is_zero_when_folded(self):
        t = np.array([0.3, -1.0, 2.0])
        assert translation_angle(t, -t) == pytest.approx(0, abs=1e-6)
        assert translation_angle(t, -t, fold=False) == pytest.approx(180)

    def test_known_angles_and_folding(self):
        assert translation_angle(np.array([1.0, 0, 0]), np.array([0, 5.0, 0])) == pytest.approx(90)
        d120 = np.array([np.cos(np.deg2rad(120)), np.sin(np.deg2rad(120)), 0])
        assert translation_angle(np.array([2.0, 0, 0]), d120) == pytest.approx(60)
        assert translation_angle(np.array([2.0, 0, 0]), d120, fold=False) == pytest.approx(120)

    def test_independent_of_length(self):
        assert translation_angle(np.array([1.0, 1, 0]), np.array([100.0, 0, 0])) == pytest.approx(45)

    def test_zero_translation_has_no_direction(self):
        assert np.isnan(translation_angle(np.zeros(3), np.array([1.0, 0, 0])))


class TestRelativePoseErrors:
    def test_pairs_are_row_major_upper_triangle(self):
        i, j = image_pairs(4)
        assert list(zip(i, j)) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]

    def test_one_camera_turned_on_the_spot(self):
        # Three cameras on the x axis looking along +z; camera 2 is turned 10° about its own
        # y axis (perpendicular to the baseline along x) while staying in place.
        gt = np.tile(np.eye(4), (3, 1, 1))
        gt[:, 0, 3] = [0.0, 1.0, 3.0]
        pred = gt.copy()
        pred[2, :3, :3] = Rotation.from_euler("y", 10, degrees=True).as_matrix()
        rot, trans = relative_pose_errors(pred, gt)
        np.testing.assert_allclose(rot, [0, 10, 10], atol=1e-9)
        # The baseline seen from camera 0 or 1 is unchanged (0°); seen from camera 2 it turns by
        # 10°; the pair error averages the two views: 5°.
        np.testing.assert_allclose(trans, [0, 5, 5], atol=1e-9)

    def test_translations_flipped_by_180_degrees_are_not_errors(self):
        rng = np.random.default_rng(0)
        gt = random_poses(5, rng)
        pred = gt.copy()
        pred[:, :3, 3] *= -1  # every baseline reversed, orientations kept
        rot, trans = relative_pose_errors(pred, gt)
        np.testing.assert_allclose(rot, 0, atol=1e-6)
        np.testing.assert_allclose(trans, 0, atol=1e-6)

    def test_wrong_baseline_direction_is_measured(self):
        gt = np.tile(np.eye(4), (2, 1, 1))
        gt[1, :3, 3] = [1.0, 0, 0]
        pred = gt.copy()
        pred[1, :3, 3] = [1.0, 1.0, 0]
        rot, trans = relative_pose_errors(pred, gt)
        assert rot[0] == pytest.approx(0) and trans[0] == pytest.approx(45)

    def test_invariant_to_a_similarity_of_the_predicted_world(self):
        rng = np.random.default_rng(1)
        gt = random_poses(6, rng)
        pred = move_world(similarity(3.7, [0.3, -1.2, 2.0], [5.0, -2.0, 1.0]), gt)
        rot, trans = relative_pose_errors(pred, gt)
        np.testing.assert_allclose(rot, 0, atol=1e-5)
        np.testing.assert_allclose(trans, 0, atol=1e-5)

    def test_unregistered_image_fails_all_its_pairs(self):
        rng = np.random.default_rng(2)
        gt = random_poses(4, rng)
        pred = gt.copy()
        pred[2] = np.nan
        rot, trans = relative_pose_errors(pred, gt)
        i, j = image_pairs(4)
        failed = (i == 2) | (j == 2)
        np.testing.assert_allclose(rot[failed], FAILURE_ERROR_DEG)
        np.testing.assert_allclose(trans[failed], FAILURE_ERROR_DEG)
        np.testing.assert_allclose(rot[~failed], 0, atol=1e-6)

    def test_batched_matches_per_scene(self):
        rng = np.random.default_rng(3)
        gt, pred = random_poses(5, rng, (2, 3)), random_poses(5, rng, (2, 3))
        rot, trans = relative_pose_errors(torch.from_numpy(pred), torch.from_numpy(gt))
        assert rot.shape == (2, 3, 10)
        r12, t12 = relative_pose_errors(pred[1, 2], gt[1, 2])
        np.testing.assert_allclose(rot[1, 2].numpy(), r12)
        np.testing.assert_allclose(trans[1, 2].numpy(), t12)

    def test_rejects_mismatched_image_counts(self):
        with pytest.raises(ValueError, match="same images"):
            relative_pose_errors(np.tile(np.eye(4), (3, 1, 1)), np.tile(np.eye(4), (4, 1, 1)))


class TestAccuracies:
    def test_accuracy_is_strictly_below_threshold(self):
        errors = np.array([0.0, 4.9, 5.0, 20.0])
        assert accuracy_at(errors, 5) == pytest.approx(50)
        assert accuracy_at(errors, 30) == pytest.approx(100)

    def test_maa_hand_computed(self):
        # max errors 0.5 (below all 30 thresholds), 10.5 (below t = 11..30: 20 of them), 40 (none).
        rot = np.array([0.5, 10.5, 40.0])
        trans = np.array([0.2, 3.0, 1.0])
        assert mean_average_accuracy(rot, trans, 30) == pytest.approx((30 + 20 + 0) / 90 * 100)

    def test_maa_uses_the_worse_of_the_two_errors(self):
        assert mean_average_accuracy(np.array([0.0]), np.array([29.5]), 30) == pytest.approx(100 / 30)

    def test_perfect_poses_score_100(self):
        gt = random_poses(7, np.random.default_rng(4))
        out = relpose_metrics(gt.copy(), gt)
        for key in ("RRA@5", "RTA@5", "RRA@15", "RTA@15", "mAA@30"):
            assert out[key] == pytest.approx(100)
        assert out["registered"] == 7 and out["pairs"] == 21

    def test_failures_count_against_the_scores(self):
        gt = random_poses(4, np.random.default_rng(5))
        pred = gt.copy()
        pred[0] = np.nan
        out = relpose_metrics(pred, gt)
        assert out["RRA@15"] == pytest.approx(50) and out["mAA@30"] == pytest.approx(50)
        assert out["registered"] == 3

    def test_random_poses_match_the_analytic_and_simulated_values(self):
        rng = np.random.default_rng(6)
        gt, pred = random_poses(30, rng, (40,)), random_poses(30, rng, (40,))
        rot, trans = relative_pose_errors(torch.from_numpy(pred), torch.from_numpy(gt))
        rot, trans = rot.flatten().numpy(), trans.flatten().numpy()
        # The relative rotation error of independent Haar rotations has CDF (θ − sin θ)/π.
        for tau in (30, 90, 150):
            theta = np.deg2rad(tau)
            assert accuracy_at(rot, tau) == pytest.approx(100 * (theta - np.sin(theta)) / np.pi, abs=1.5)
        # Simulation of the same model from its definition: with independent random poses the
        # GT and predicted baselines g, p are independent uniform directions, and the frame of the
        # second camera turns p by the relative-rotation error Q (a Haar rotation).
        n = 200_000
        g, p = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in rng.normal(size=(2, n, 3)))
        q = Rotation.random(n, random_state=rng)
        fold = lambda a, b: (lambda th: np.minimum(th, 180 - th))(
            np.degrees(np.arccos(np.clip((a * b).sum(1), -1, 1)))
        )
        sim_trans = (fold(g, p) + fold(g, q.apply(p))) / 2
        sim_rot = np.degrees(q.magnitude())
        for tau in (15, 30, 60):
            assert accuracy_at(trans, tau) == pytest.approx(100 * np.mean(sim_trans < tau), abs=1.5)
        sim_maa = np.mean([np.mean(np.maximum(sim_rot, sim_trans) < t) for t in range(1, 91)]) * 100
        assert mean_average_accuracy(rot, trans, 90) == pytest.approx(sim_maa, abs=1.0)
        # At 30° random poses are almost never accurate: mAA@30 is below the rotation-only bound.
        bound = np.mean([(np.deg2rad(t) - np.sin(np.deg2rad(t))) / np.pi for t in range(1, 31)]) * 100
        assert 0 <= mean_average_accuracy(rot, trans, 30) <= bound + 0.1

    def test_invariant_to_the_order_of_images(self):
        rng = np.random.default_rng(7)
        gt = random_poses(8, rng)
        noise = Rotation.from_rotvec(rng.normal(scale=0.15, size=(8, 3))).as_matrix()
        pred = gt.copy()
        pred[:, :3, :3] = noise @ gt[:, :3, :3]
        pred[:, :3, 3] += rng.normal(scale=0.2, size=(8, 3))
        pred[3] = np.nan
        order = rng.permutation(8)
        a = relpose_metrics(pred, gt)
        b = relpose_metrics(pred[order], gt[order])
        assert a == pytest.approx(b)
        assert 0 < a["mAA@30"] < 100
        rot_a, trans_a = relative_pose_errors(pred, gt)
        rot_b, trans_b = relative_pose_errors(pred[order], gt[order])
        np.testing.assert_allclose(np.sort(rot_a), np.sort(rot_b))
        np.testing.assert_allclose(np.sort(trans_a), np.sort(trans_b))

    def test_rejects_non_finite_ground_truth(self):
        gt = random_poses(3, np.random.default_rng(8))
        bad = gt.copy()
        bad[1, 0, 0] = np.nan
        with pytest.raises(ValueError, match="gt_world_from_cam"):
            relpose_metrics(gt, bad)
