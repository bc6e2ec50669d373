"""The fast alignment mode (`recon3r.align.sparse`): accuracy against the dense mode, robustness, mode choice."""

import warnings

import numpy as np
import pytest
import torch

from recon3r.align import FAST_MIN_IMAGES, choose_mode, global_align, select_pixels
from recon3r.align.synthetic import make_scene, oracle_predictions
from recon3r.errors import Recon3rError
from recon3r.eval.metrics import relative_pose_errors
from recon3r.pairs import pair_indices

NOISY = dict(noise=0.01, outliers=0.03)


def _pose_errors(scene, truth) -> tuple[float, float]:
    rotation, translation = relative_pose_errors(scene.world_from_cam, truth.world_from_cam.numpy())
    return float(np.mean(rotation)), float(np.mean(translation))


@pytest.mark.parametrize(("num_images", "graph"), [(6, "complete"), (8, "swin-2")])
def test_fast_mode_reaches_the_dense_pose_accuracy_on_oracle_predictions(num_images, graph):
    truth = make_scene(num_images, 32, 48, seed=3)
    preds = oracle_predictions(truth, pair_indices(num_images, graph), **NOISY, seed=4)
    dense = global_align(preds, truth.images, mode="optimize", niter=300, progress=False)
    fast = global_align(preds, truth.images, mode="fast", progress=False)
    dense_rot, dense_trans = _pose_errors(dense, truth)
    fast_rot, fast_trans = _pose_errors(fast, truth)
    assert fast_rot <= dense_rot + 0.5 and fast_trans <= dense_trans + 0.5
    assert fast_rot < 0.5 and fast_trans < 1.0
    info = fast.metadata["alignment"]
    assert info["mode"] == "fast" and 0 < info["subsample"] <= 256 and info["iterations"] > 0
    assert info["final_loss"] < info["initial_loss"]
    focal = fast.intrinsics[:, 0, 0] / truth.intrinsics[:, 0, 0].numpy()
    assert np.abs(focal - 1).max() < 0.02
    # Depth maps: the truth up to one global scale, pixel by pixel.
    ratio = np.concatenate([(fast.depths[k] / truth.depths[k].numpy()).reshape(-1) for k in range(num_images)])
    assert np.percentile(ratio, 95) / np.percentile(ratio, 5) < 1.05


def test_fast_mode_recovers_exact_poses_from_exact_predictions():
    truth = make_scene(5, 32, 48, arc_degrees=120, seed=1)
    preds = oracle_predictions(truth, pair_indices(5, "complete"), seed=2)
    rotation, translation = _pose_errors(global_align(preds, truth.images, mode="fast", progress=False), truth)
    assert rotation < 1e-3 and translation < 1e-2


def test_auto_mode_is_fast_on_the_cpu_from_twelve_images():
    cpu, accelerator = torch.device("cpu"), torch.device("cuda")
    assert FAST_MIN_IMAGES == 12
    assert choose_mode(12, 0, cpu) == "fast" and choose_mode(50, 3, cpu) == "fast"
    assert choose_mode(11, 0, cpu) == "optimize"
    assert choose_mode(2, 0, cpu) == "pair" and choose_mode(2, 1, cpu) == "optimize"
    assert choose_mode(20, 0, accelerator) == "optimize"
    assert choose_mode(20, 0, cpu, optimize_pp=True) == "optimize"
    truth = make_scene(12, 16, 16, seed=5)
    preds = oracle_predictions(truth, pair_indices(12, "swin-2"), **NOISY, seed=6)
    info = global_align(preds, truth.images, progress=False).metadata["alignment"]
    assert info["mode"] == "fast" and info["requested_mode"] == "auto"
    dense = global_align(preds, truth.images, mode="optimize", niter=2, progress=False).metadata["alignment"]
    assert dense["mode"] == "optimize" and dense["iterations"] == 2


def test_fast_mode_never_returns_nan():
    truth = make_scene(6, 24, 32, seed=7)
    pairs = pair_indices(6, "swin-2")
    wild = oracle_predictions(truth, pairs, noise=0.3, outliers=0.4, seed=8)
    flat = oracle_predictions(truth, pairs, **NOISY, seed=9)
    for pred in flat:  # confidence 1 everywhere: every log-confidence weight is zero
        pred.conf_i, pred.conf_j = torch.ones_like(pred.conf_i), torch.ones_like(pred.conf_j)
    for preds in (wild, flat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # degenerate fits are reported, not fatal
            scene = global_align(preds, truth.images, mode="fast", progress=False)
        assert np.isfinite(scene.world_from_cam).all() and np.isfinite(scene.intrinsics).all()
        assert all(np.isfinite(d).all() and (d > 0).all() for d in scene.depths)
        assert all(np.isfinite(p).all() for p in scene.points)


def test_fast_mode_holds_known_poses_and_focals():
    truth = make_scene(6, 32, 48, seed=10)
    preds = oracle_predictions(truth, pair_indices(6, "complete"), **NOISY, seed=11)
    known = {0: truth.world_from_cam[0].numpy(), 4: truth.world_from_cam[4].numpy()}
    focal = float(truth.intrinsics[2, 0, 0])
    scene = global_align(preds, truth.images, mode="fast", known_poses=known, known_focals={2: focal},
                         progress=False)
    for k, pose in known.items():
        np.testing.assert_array_equal(scene.world_from_cam[k], pose)
    assert scene.intrinsics[2, 0, 0] == focal and scene.intrinsics[2, 1, 1] == focal
    # Two known cameras fix the frame and the unit: the others land at their true centres.
    centres = np.linalg.norm(scene.world_from_cam[:, :3, 3] - truth.world_from_cam[:, :3, 3].numpy(), axis=-1)
    assert centres.max() < 0.05 * np.linalg.norm(truth.world_from_cam[:, :3, 3].numpy(), axis=-1).mean()


def test_fast_mode_refuses_what_it_cannot_do():
    truth = make_scene(3, 16, 16, seed=12)
    preds = oracle_predictions(truth, pair_indices(3, "complete"), seed=13)
    with pytest.raises(Recon3rError, match="principal points"):
        global_align(preds, truth.images, mode="fast", optimize_pp=True, progress=False)
    with pytest.raises(Recon3rError, match="subsample"):
        global_align(preds, truth.images, mode="fast", subsample=0, progress=False)


def test_subsample_takes_the_most_confident_eligible_pixel_of_each_cell():
    gen = torch.Generator().manual_seed(0)
    conf = 1 + 5 * torch.rand(40, 60, generator=gen)
    conf[:, :30] = 1.0  # the left half is below the threshold
    chosen = select_pixels(conf, 16, min_conf=3.0)
    assert 0 < len(chosen) <= 16 and len(set(chosen.tolist())) == len(chosen)
    rows, cols = chosen // 60, chosen % 60
    assert (cols >= 30).all() and (conf.reshape(-1)[chosen] >= 3.0).all()
    cells = (rows * 4 // 40) * 4 + cols * 4 // 60  # a 4 × 4 grid
    assert len(set(cells.tolist())) == len(chosen)  # at most one pixel per cell
    for index, cell in zip(chosen.tolist(), cells.tolist()):
        r, c = index // 60, index % 60
        block = conf[r // 10 * 10:(r // 10 + 1) * 10, c // 15 * 15:(c // 15 + 1) * 15]
        assert conf[r, c] == block.max(), f"cell {cell}: not its most confident pixel"
    # Too few confident pixels: every pixel becomes eligible.
    assert len(select_pixels(torch.ones(40, 60), 16, min_conf=3.0)) == 16
