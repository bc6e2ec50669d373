"""Pair-level evaluation: a ground-truth predictor scores perfectly, the constant plane does not."""

import pytest
import torch

from recon3r.data import DATASETS
from recon3r.eval.pairs import constant_plane_predictor, evaluate_pairs
from recon3r.geometry import apply_transform, invert_transform
from recon3r.utils.spec import parse_spec


def oracle(view1, view2):
    """Ground-truth pointmaps expressed in camera 1's frame, as a perfect pair model would give."""
    cam1_from_world = invert_transform(view1["camera_pose"])
    pts1 = apply_transform(cam1_from_world, view1["pts3d"])
    pts2 = apply_transform(cam1_from_world, view2["pts3d"])
    ones = torch.ones(pts1.shape[:-1])
    return {"pts3d": pts1, "conf": ones}, {"pts3d_in_other_view": pts2, "conf": ones}


@pytest.fixture(scope="module")
def pairs():
    return parse_spec("6 @ Procedural(scenes=2, views=3, size=96, resolution=(96, 64), split='test')", DATASETS, allow_operators=True)


def test_ground_truth_scores_perfectly(pairs):
    metrics = evaluate_pairs(oracle, pairs, batch_size=3)
    assert metrics["pairs"] == 6
    assert metrics["regr3d_ssi"] < 1e-4
    assert metrics["abs_rel"] < 1e-5 and metrics["delta_1"] == pytest.approx(100.0)
    assert metrics["focal_rel_err"] < 0.02


def test_constant_plane_is_a_weak_baseline(pairs):
    metrics = evaluate_pairs(constant_plane_predictor(), pairs, batch_size=3)
    assert metrics["regr3d_ssi"] > 0.05 and metrics["abs_rel"] > 0.05 and metrics["delta_1"] < 95.0
