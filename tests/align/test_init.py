import random

import numpy as np
import pytest
import torch

from recon3r.align.graph import build_pair_graph
from recon3r.align.init import focal_from_points, initialize, spanning_tree, spanning_tree_points
from recon3r.align.known import parse_known_cameras
from recon3r.align.synthetic import oracle_predictions
from recon3r.eval.metrics import relative_pose_errors
from recon3r.geometry.cameras import image_center
from recon3r.geometry.focal import estimate_focal
from recon3r.inference import PairPrediction
from recon3r.pairs import pair_indices


def _golden_graph(golden):
    edges = [tuple(int(v) for v in e) for e in golden["mst__edges"]]
    preds = [
        PairPrediction(
            i=i,
            j=j,
            pts_i=golden[f"mst__pred_i__{i}_{j}"],
            conf_i=golden[f"mst__conf_i__{i}_{j}"],
            pts_j=golden[f"mst__pred_j__{i}_{j}"],
            conf_j=golden[f"mst__conf_j__{i}_{j}"],
        )
        for i, j in edges
    ]
    return build_pair_graph(preds, [(8, 10)] * 3)


def test_edge_scores_match_reference(golden_more):
    graph = _golden_graph(golden_more)
    np.testing.assert_allclose(graph.edge_scores(), golden_more["mst__edge_scores"].numpy(), rtol=1e-6)


def test_spanning_tree_walk_matches_reference(golden_more):
    graph = _golden_graph(golden_more)
    points, tree, poses = spanning_tree_points(graph)
    assert tree == [tuple(e) for e in golden_more["mst__out_msp_edges"].tolist()]
    for k in range(3):
        torch.testing.assert_close(points[k], golden_more[f"mst__out_pts3d_{k}"], rtol=1e-4, atol=1e-4)
    # the root camera is the world frame
    root = tree[0][0]
    torch.testing.assert_close(poses[root], torch.eye(4))


def test_spanning_tree_equals_scipy_on_random_directed_graphs():
    from scipy.sparse import dok_array
    from scipy.sparse.csgraph import minimum_spanning_tree

    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(3, 9)
        edges = [(i, j) for i in range(n) for j in range(n) if i != j and rng.random() < 0.6]
        edges += [(k, k + 1) for k in range(n - 1) if (k, k + 1) not in edges]
        scores = [rng.uniform(1, 10) for _ in edges]
        graph = dok_array((n, n))
        for (i, j), s in zip(edges, scores):
            graph[i, j] = -s
        reference = minimum_spanning_tree(graph).tocoo()
        expected = sorted(zip(reference.row.tolist(), reference.col.tolist()))
        ours = spanning_tree(n, edges, scores)
        assert sorted((i, j) for _, i, j in ours) == expected
        assert sum(s for s, _, _ in ours) == pytest.approx(-reference.data.sum())


def test_initial_focal_matches_reference_global_alignment_helper(golden_more):
    points = golden_more["estimate_focal__pts3d_noisy"][0]
    conf = torch.full(points.shape[:2], 5.0)
    # the reference helper's default principal point is (W/2, H/2); ours is the pixel-centre mean
    reference_centre = image_center(18, 24)
    focal = focal_from_points(points, conf, reference_centre)
    torch.testing.assert_close(
        focal, golden_more["cloud_opt_estimate_focal__noisy0_default_pp"], rtol=1e-5, atol=1e-4
    )
    focal = focal_from_points(points, conf, golden_more["estimate_focal__pp"][0])
    torch.testing.assert_close(
        focal, golden_more["cloud_opt_estimate_focal__noisy0_given_pp"], rtol=1e-5, atol=1e-4
    )


def test_initial_focal_ignores_untrusted_and_behind_camera_points():
    height, width, focal = 16, 20, 30.0
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    depth = 2.0 + 0.1 * xs
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=torch.float64)
    points = torch.stack([(xs - centre[0]) / focal * depth, (ys - centre[1]) / focal * depth, depth], dim=-1)
    conf = torch.full((height, width), 5.0, dtype=torch.float64)
    corrupted = points.clone()
    corrupted[0, :4] = torch.tensor([3.0, 1.0, 1e-4], dtype=torch.float64)  # nearly on the camera plane
    conf_bad = conf.clone()
    conf_bad[0, :4] = 1.0
    plain = estimate_focal(corrupted, centre, mode="weiszfeld")
    assert abs(float(plain) / focal - 1) > 0.05  # the unmasked fit is dragged away
    robust = focal_from_points(corrupted, conf_bad, centre)
    assert float(robust) == pytest.approx(focal, rel=1e-6)


def test_initialization_is_exact_on_noise_free_predictions(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "complete"), seed=4)
    graph = build_pair_graph(preds, [(32, 48)] * 5, dtype=torch.float64)
    init = initialize(graph, parse_known_cameras(5))
    rot, trans = relative_pose_errors(init.world_from_cam, five_views.world_from_cam)
    assert rot.max() < 1e-4 and trans.max() < 1e-4
    torch.testing.assert_close(init.focals[:, 0], five_views.intrinsics[:, 0, 0], rtol=1e-6, atol=0)


def test_images_seen_only_from_other_cameras_are_located_by_pnp(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "oneref-0", symmetrize=False), seed=5)
    graph = build_pair_graph(preds, [(32, 48)] * 5, dtype=torch.float64)
    init = initialize(graph, parse_known_cameras(5), generator=torch.Generator().manual_seed(0))
    rot, trans = relative_pose_errors(init.world_from_cam, five_views.world_from_cam)
    assert rot.max() < 0.05 and trans.max() < 0.05
    torch.testing.assert_close(init.focals[:, 0], five_views.intrinsics[:, 0, 0], rtol=1e-3, atol=0)


def test_initialization_moves_onto_two_known_poses(five_views):
    preds = oracle_predictions(five_views, pair_indices(5, "complete"), seed=4)
    graph = build_pair_graph(preds, [(32, 48)] * 5, dtype=torch.float64)
    known = parse_known_cameras(
        5, known_poses={1: five_views.world_from_cam[1], 3: five_views.world_from_cam[3]}
    )
    init = initialize(graph, known)
    assert torch.equal(init.world_from_cam[1], five_views.world_from_cam[1])
    torch.testing.assert_close(init.world_from_cam, five_views.world_from_cam, rtol=0, atol=1e-6)
    for k in range(5):
        torch.testing.assert_close(init.points[k], five_views.world_points(k), rtol=0, atol=1e-6)
