"""Point-cloud metrics: accuracy, completeness, normal consistency, alignment and ICP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from recon3r.eval.metrics import (
    align_point_clouds,
    icp,
    nearest_neighbor_distances,
    pca_normals,
    pointcloud_metrics,
    pointmap_normals,
)


def wavy_pointmap(h: int = 24, w: int = 32) -> np.ndarray:
    """(H, W, 3) points of a smooth non-planar surface (no symmetry for ICP to slide along)."""
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1.3, 1.3, w), indexing="ij")
    z = 3 + 0.3 * np.sin(2 * x) + 0.2 * np.cos(3 * y) + 0.1 * x * y
    return np.stack([x, y, z], -1)


def plane_pointmap(h: int = 10, w: int = 12) -> np.ndarray:
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    return np.stack([x, y, np.zeros_like(x)], -1)


def apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ transform[:3, :3].T + transform[:3, 3]


def similarity(scale: float, rotvec, translation) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = scale * Rotation.from_rotvec(rotvec).as_matrix()
    out[:3, 3] = translation
    return out


class TestDistances:
    def test_nearest_neighbours_hand_computed(self):
        dist, index = nearest_neighbor_distances(
            np.array([[0.0, 0, 0], [3, 0, 0]]), np.array([[0.0, 1, 0], [5, 0, 0]])
        )
        np.testing.assert_allclose(dist, [1, 2])
        np.testing.assert_array_equal(index, [0, 1])

    def test_accuracy_and_completeness_hand_computed(self):
        pred = np.array([[0.0, 0, 0], [1, 0, 0]])
        gt = np.array([[0.0, 0, 0], [0, 2, 0], [4, 0, 0]])
        normals = np.tile([0.0, 0, 1], (3, 1))
        out = pointcloud_metrics(pred, gt, pred_normals=normals[:2], gt_normals=normals)
        # pred → GT: 0 and 1. GT → pred: 0, 2 and 3.
        assert out["acc"] == pytest.approx(0.5) and out["acc_med"] == pytest.approx(0.5)
        assert out["comp"] == pytest.approx(5 / 3) and out["comp_med"] == pytest.approx(2)
        assert out["chamfer"] == pytest.approx((0.5 + 5 / 3) / 2)
        assert out["nc"] == pytest.approx(1)

    def test_masks_select_points(self):
        pred = np.array([[0.0, 0, 0], [100, 0, 0]])
        gt = np.array([[0.0, 0, 0], [0, 0, 1]])
        n = np.tile([0.0, 0, 1], (2, 1))
        out = pointcloud_metrics(pred, gt, pred_mask=np.array([True, False]), pred_normals=n, gt_normals=n)
        assert out["acc"] == 0 and out["comp"] == pytest.approx(0.5)

    def test_invariant_to_point_order(self):
        rng = np.random.default_rng(0)
        gt = wavy_pointmap().reshape(-1, 3)
        pred = gt + rng.normal(scale=0.01, size=gt.shape)
        order = rng.permutation(len(gt))
        a = pointcloud_metrics(pred, gt, align="sim3")
        b = pointcloud_metrics(pred[order], gt[order], align="sim3")
        assert a == pytest.approx(b)


class TestNormals:
    def test_grid_normals_of_a_fronto_parallel_plane(self):
        points = plane_pointmap()
        points[..., 2] = 2.0
        n = pointmap_normals(torch.from_numpy(points))
        assert isinstance(n, torch.Tensor)
        torch.testing.assert_close(n, torch.tensor([0.0, 0, 1], dtype=n.dtype).expand_as(n))

    def test_pca_normals_of_a_tilted_plane(self):
        normal = np.array([1.0, 2.0, 2.0]) / 3
        points = apply(
            similarity(
                1,
                np.cross([0, 0, 1], normal)
                / np.linalg.norm(np.cross([0, 0, 1], normal))
                * np.arccos(normal[2]),
                [0, 0, 0],
            ),
            plane_pointmap().reshape(-1, 3),
        )
        n = pca_normals(points, k=8)
        np.testing.assert_allclose(np.abs(n @ normal), 1, atol=1e-9)

    @pytest.mark.parametrize("method", ["pca", "grid"])
    def test_normal_consistency_of_planes_at_20_degrees(self, method):
        gt = plane_pointmap()
        pred = apply(similarity(1, [np.deg2rad(20), 0, 0], [0, 0, 0]), gt)
        out = pointcloud_metrics(pred, gt, normals=method)
        assert out["nc"] == pytest.approx(np.cos(np.deg2rad(20)), abs=1e-9)
        assert out["nc_med"] == pytest.approx(np.cos(np.deg2rad(20)), abs=1e-9)

    def test_normals_rotate_with_the_alignment(self):
        gt = wavy_pointmap()
        pred = apply(similarity(0.5, [0.4, -0.3, 1.0], [1, 2, 3]), gt)
        out = pointcloud_metrics(pred, gt, align="sim3", normals="grid")
        assert out["nc"] == pytest.approx(1, abs=1e-9)


class TestAlignment:
    def test_sim3_recovers_a_planted_similarity_exactly(self):
        gt = wavy_pointmap().reshape(-1, 3)
        planted = similarity(2.5, [0.3, -1.1, 0.7], [0.5, -4.0, 2.0])
        pred = apply(np.linalg.inv(planted), gt)
        np.testing.assert_allclose(align_point_clouds(pred, gt, "sim3"), planted, atol=1e-10)
        out = pointcloud_metrics(pred, gt, align="sim3")
        assert out["acc"] < 1e-10 and out["comp"] < 1e-10

    def test_scale_alignment_about_the_origin(self):
        gt = wavy_pointmap()
        out = pointcloud_metrics(gt / 3.0, gt, align="scale")
        assert out["acc"] < 1e-12
        assert pointcloud_metrics(gt / 3.0, gt)["acc"] > 1.0

    def test_alignment_needs_corresponding_points(self):
        with pytest.raises(ValueError, match="corresponding"):
            pointcloud_metrics(np.zeros((5, 3)), np.zeros((6, 3)), align="sim3")

    def test_icp_undoes_a_small_rigid_motion(self):
        gt = wavy_pointmap().reshape(-1, 3)
        motion = similarity(1, [0.0, np.deg2rad(0.4), np.deg2rad(1)], [0.015, -0.01, 0.01])
        pred = apply(motion, gt)
        refine = icp(pred, gt, max_distance=0.5, iterations=100)
        np.testing.assert_allclose(refine, np.linalg.inv(motion), atol=1e-8)
        before = pointcloud_metrics(pred, gt)
        after = pointcloud_metrics(pred, gt, icp_refine=True)
        assert before["acc"] > 0.01 and after["acc"] < 1e-8

    def test_icp_keeps_an_exact_sim3_alignment(self):
        gt = wavy_pointmap().reshape(-1, 3)
        pred = apply(similarity(0.7, [0.2, 0.1, -0.3], [1, 0, 0]), gt)
        out = pointcloud_metrics(pred, gt, align="sim3", icp_refine=True)
        assert out["acc"] < 1e-9 and out["comp"] < 1e-9 and out["nc"] == pytest.approx(1)
