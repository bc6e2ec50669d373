"""Trajectory metrics: ATE after Umeyama Sim(3), RPE at Δ = 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from recon3r.eval.metrics import (
    absolute_trajectory_error,
    align_trajectory,
    relative_pose_error,
    trajectory_metrics,
    transform_poses,
)


def trajectory(num: int = 8, seed: int = 0) -> np.ndarray:
    """(N, 4, 4) world_from_cam poses along a curved, non-planar path."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 2, num)
    poses = np.tile(np.eye(4), (num, 1, 1))
    poses[:, :3, 3] = np.stack([np.cos(s), np.sin(s), 0.3 * s**2], -1)
    poses[:, :3, :3] = Rotation.from_rotvec(rng.normal(scale=0.5, size=(num, 3))).as_matrix()
    return poses


def square(z_offsets=(0.0, 0.0, 0.0, 0.0), radial: float = 0.0) -> np.ndarray:
    centres = np.array([[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]])
    centres = centres * (1 + radial)
    centres[:, 2] = z_offsets
    poses = np.tile(np.eye(4), (4, 1, 1))
    poses[:, :3, 3] = centres
    return poses


class TestAlignTrajectory:
    def test_recovers_a_planted_similarity(self):
        gt = trajectory()
        s, rot, t = 0.3, Rotation.from_rotvec([0.5, -0.2, 1.0]).as_matrix(), np.array([2.0, -1.0, 0.5])
        pred = transform_poses(np.array(s), rot, t, gt)
        s_hat, rot_hat, t_hat = align_trajectory(pred, gt)
        assert s_hat == pytest.approx(1 / s)
        np.testing.assert_allclose(rot_hat, rot.T, atol=1e-12)
        np.testing.assert_allclose(transform_poses(s_hat, rot_hat, t_hat, pred), gt, atol=1e-12)

    def test_transform_poses_keeps_them_rigid(self):
        pred = transform_poses(np.array(4.0), np.eye(3), np.zeros(3), trajectory())
        np.testing.assert_allclose(np.linalg.det(pred[:, :3, :3]), 1)


class TestATE:
    def test_zero_under_a_known_similarity(self):
        gt = trajectory()
        pred = transform_poses(
            np.array(2.5), Rotation.from_rotvec([1.0, 2.0, 0.5]).as_matrix(), np.ones(3), gt
        )
        assert absolute_trajectory_error(pred, gt) == pytest.approx(0, abs=1e-12)

    def test_rigid_alignment_cannot_remove_a_scale(self):
        # Every centre of the square pushed outwards by 0.1: a pure scale. By symmetry the best
        # rigid fit is the identity, leaving 0.1 at every camera.
        gt, pred = square(), square(radial=0.1)
        assert absolute_trajectory_error(pred, gt) == pytest.approx(0, abs=1e-12)
        assert absolute_trajectory_error(pred, gt, with_scale=False) == pytest.approx(0.1)

    def test_saddle_that_no_similarity_explains(self):
        # Alternating heights ±0.1 on the square. By symmetry R = I and t = 0; the scale is
        # s = Σ⟨p, g⟩ / Σ‖p‖² = 1/1.01, leaving ‖s·p − g‖ = ‖(−0.01, 0.1)‖ / 1.01 = 0.1/√1.01.
        gt, pred = square(), square(z_offsets=(0.1, -0.1, 0.1, -0.1))
        assert absolute_trajectory_error(pred, gt) == pytest.approx(0.1 / np.sqrt(1.01))
        assert absolute_trajectory_error(pred, gt, with_scale=False) == pytest.approx(0.1)

    def test_batched_and_invariant_to_frame_order(self):
        rng = np.random.default_rng(1)
        gt = np.stack([trajectory(seed=0), trajectory(seed=1)])
        pred = gt.copy()
        pred[..., :3, 3] += rng.normal(scale=0.05, size=pred[..., :3, 3].shape)
        ate = absolute_trajectory_error(torch.from_numpy(pred), torch.from_numpy(gt))
        assert ate.shape == (2,)
        order = rng.permutation(8)
        assert float(ate[1]) == pytest.approx(absolute_trajectory_error(pred[1][order], gt[1][order]))
        assert 0 < float(ate[1]) < 0.1


class TestRPE:
    def test_zero_under_a_known_similarity(self):
        gt = trajectory()
        pred = transform_poses(
            np.array(0.4), Rotation.from_rotvec([0.1, 0.2, 0.3]).as_matrix(), np.ones(3), gt
        )
        trans, rot = relative_pose_error(pred, gt)
        assert trans == pytest.approx(0, abs=1e-12) and rot == pytest.approx(0, abs=1e-5)

    def test_last_camera_turned_on_the_spot(self):
        gt = trajectory()
        pred = gt.copy()
        pred[-1, :3, :3] = pred[-1, :3, :3] @ Rotation.from_euler("z", 10, degrees=True).as_matrix()
        trans, rot = relative_pose_error(pred, gt)
        # Only the last of the 7 motions is wrong, by 10°; its translation is unaffected.
        assert rot == pytest.approx(np.sqrt(100 / 7))
        assert trans == pytest.approx(0, abs=1e-12)

    def test_matches_the_definition_on_a_noisy_trajectory(self):
        rng = np.random.default_rng(2)
        gt = trajectory(10)
        pred = gt.copy()
        pred[:, :3, :3] = (
            Rotation.from_rotvec(rng.normal(scale=0.05, size=(10, 3))).as_matrix() @ gt[:, :3, :3]
        )
        pred[:, :3, 3] = 3 * pred[:, :3, 3] + rng.normal(scale=0.05, size=(10, 3))
        trans, rot = relative_pose_error(pred, gt)
        aligned = transform_poses(*align_trajectory(pred, gt), pred)
        errors_t, errors_r = [], []
        for i in range(9):
            e = np.linalg.inv(np.linalg.inv(gt[i]) @ gt[i + 1]) @ (np.linalg.inv(aligned[i]) @ aligned[i + 1])
            errors_t.append(np.linalg.norm(e[:3, 3]))
            errors_r.append(np.degrees(Rotation.from_matrix(e[:3, :3]).magnitude()))
        assert trans == pytest.approx(np.sqrt(np.mean(np.square(errors_t))))
        assert rot == pytest.approx(np.sqrt(np.mean(np.square(errors_r))))
        out = trajectory_metrics(pred, gt)
        assert out["rpe_trans"] == pytest.approx(float(trans)) and out["rpe_rot"] == pytest.approx(float(rot))
        assert out["ate"] > 0

    def test_rejects_a_delta_beyond_the_trajectory(self):
        with pytest.raises(ValueError, match="delta"):
            relative_pose_error(trajectory(3), trajectory(3), delta=3)

    def test_rejects_unregistered_frames(self):
        pred = trajectory()
        pred[2] = np.nan
        with pytest.raises(ValueError, match="finite"):
            trajectory_metrics(pred, trajectory())
