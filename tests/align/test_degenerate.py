"""Degenerate predictions and point sets: guarded fits, one clear error, never a linear-algebra traceback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from recon3r.align import global_align, solve_pnp
from recon3r.align.synthetic import make_scene, oracle_predictions
from recon3r.errors import Recon3rError
from recon3r.geometry.registration import align_poses, umeyama
from recon3r.inference import PairPrediction
from recon3r.pairs import pair_indices


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("constant", torch.full((50, 3), 2.5)),
        ("all zero", torch.zeros(50, 3)),
        ("1e-30", torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 1e-30),
        ("1e30", torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 1e30),
        ("NaN", torch.full((50, 3), float("nan"))),
    ],
)
def test_umeyama_on_a_degenerate_set_is_the_identity_with_a_warning(name, source):
    target = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    with pytest.warns(RuntimeWarning, match="degenerate point set"):
        scale, rotation, translation = umeyama(source, target)
    torch.testing.assert_close(scale, torch.tensor(1.0))
    torch.testing.assert_close(rotation, torch.eye(3))
    torch.testing.assert_close(translation, torch.zeros(3))


def test_umeyama_with_zero_weights_or_a_collapsed_target_is_the_identity():
    source = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    with pytest.warns(RuntimeWarning):
        scale, rotation, _ = umeyama(source, source, torch.zeros(20))
    assert float(scale) == 1.0 and torch.equal(rotation, torch.eye(3))
    with pytest.warns(RuntimeWarning):
        scale, _, _ = umeyama(source, torch.zeros(20, 3))
    assert float(scale) == 1.0


def test_a_degenerate_batch_member_leaves_the_others_exact():
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(2, 30, 3, dtype=torch.float64, generator=generator)
    source[1] = 0.0
    angle = torch.tensor(0.3, dtype=torch.float64)
    rotation = torch.tensor([[torch.cos(angle), -torch.sin(angle), 0], [torch.sin(angle), torch.cos(angle), 0],
                             [0, 0, 1]], dtype=torch.float64)
    target = 2.0 * source @ rotation.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="1 degenerate"):
        scale, fitted, translation = umeyama(source, target)
    torch.testing.assert_close(scale[0], torch.tensor(2.0, dtype=torch.float64))
    torch.testing.assert_close(fitted[0], rotation)
    torch.testing.assert_close(fitted[1], torch.eye(3, dtype=torch.float64))


def test_a_healthy_fit_gives_no_warning():
    source = torch.randn(40, 3, generator=torch.Generator().manual_seed(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        umeyama(source, 3 * source + 1)


def test_pose_alignment_of_coincident_cameras_does_not_raise():
    poses = torch.eye(4).repeat(3, 1, 1)
    with pytest.warns(RuntimeWarning):
        scale, rotation, _ = align_poses(poses, poses)
    assert float(scale) == 1.0 and torch.equal(rotation, torch.eye(3))


@pytest.mark.parametrize("fill", [0.0, float("nan"), 1e30])
def test_pnp_on_degenerate_points_returns_instead_of_raising(fill):
    points = torch.full((200, 3), fill)
    pixels = torch.rand(200, 2, generator=torch.Generator().manual_seed(0)) * 32
    intrinsics = torch.tensor([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]])
    result = solve_pnp(points, pixels, intrinsics, generator=torch.Generator().manual_seed(0))
    assert result.cam_from_world.shape == (4, 4)


def _degenerate(preds: list[PairPrediction], make) -> list[PairPrediction]:
    return [PairPrediction(p.i, p.j, make(p.pts_i), p.conf_i, make(p.pts_j), p.conf_j) for p in preds]


@pytest.mark.parametrize("count", [2, 3], ids=["two-view", "optimiser"])
@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("collapsed", lambda p: torch.full_like(p, 0.7), "every point in one place"),
        ("zero depth", torch.zeros_like, "every point in one place"),
        ("1e30", lambda p: p * 1e30, r"points 1e\+30|more than 1e\+08"),
        ("1e-30", lambda p: p * 1e-30, "every point in one place"),
        ("NaN", lambda p: torch.full_like(p, float("nan")), "NaN or infinite"),
    ],
)
def test_a_scene_of_degenerate_predictions_fails_with_one_clear_error(count, name, make, message):
    truth = make_scene(count, 32, 48, arc_degrees=40, seed=1)
    preds = _degenerate(oracle_predictions(truth, pair_indices(count, "complete"), seed=2), make)
    with pytest.raises(Recon3rError, match=message) as caught:
        global_align(preds, truth.images, niter=5, progress=False)
    assert "\n" not in str(caught.value)


def test_a_known_pose_far_beyond_float_precision_is_refused_up_front():
    truth = make_scene(3, 32, 48, arc_degrees=40, seed=1)
    preds = oracle_predictions(truth, pair_indices(3, "complete"), seed=2)
    pose = np.eye(4)
    pose[:3, 3] = [1e30, 0, 0]
    with pytest.raises(Recon3rError, match=r"known_poses\[1\]: translation .*beyond"):
        global_align(preds, truth.images, niter=5, progress=False, known_poses={0: np.eye(4), 1: pose})
