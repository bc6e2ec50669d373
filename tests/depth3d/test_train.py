"""Training samples are exact, and a tiny training run learns."""

from __future__ import annotations

import numpy as np
import torch

from recon3r.depth3d.geometry import apply_correction
from recon3r.depth3d.model import TINY_CONFIG
from recon3r.depth3d.samples import DistortionRange, distort_view, make_batch
from recon3r.depth3d.train import TrainDepth3DConfig, train_depth3d


def test_distorted_view_targets_undo_the_distortion_exactly(train_views):
    rng = np.random.default_rng(0)
    for view in train_views:
        sample = distort_view(view, rng)
        assert abs(float(np.median(sample.depth[sample.valid])) - 1) < 1e-5
        assert (sample.depth[sample.valid] > 0).all()
        depth, focal = apply_correction(torch.as_tensor(sample.depth, dtype=torch.float64)[None],
                                        sample.focal_guess, sample.shift, np.exp(sample.log_focal_scale))
        ratio = depth[0].numpy()[sample.valid] / view.depth[sample.valid]
        np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-5)  # ∝ the true depth
        assert abs(float(focal[0]) / view.focal - 1) < 1e-9


def test_distortions_cover_the_configured_ranges(train_views):
    rng = np.random.default_rng(1)
    ranges = DistortionRange(log_focal_range=0.5)
    samples = [distort_view(train_views[k % len(train_views)], rng, ranges) for k in range(200)]
    log_scales = np.array([s.log_focal_scale for s in samples])
    shifts = np.array([s.shift for s in samples])
    assert np.abs(log_scales).max() <= 0.5 + 1e-9 and log_scales.min() < -0.4 and log_scales.max() > 0.4
    assert shifts.min() < -0.4 and shifts.max() > 0.05


def test_batch_shapes_and_dtypes(train_views):
    batch = make_batch(train_views, np.random.default_rng(0), batch_size=5, num_points=64)
    assert batch["shift_points"].shape == batch["focal_points"].shape == (5, 64, 3)
    assert batch["shift"].shape == batch["log_focal_scale"].shape == (5,)
    assert all(v.dtype == torch.float32 for v in batch.values())
    assert (batch["shift_points"][..., 2] > 0).all()


def test_tiny_training_run_reduces_the_loss(train_views):
    config = TrainDepth3DConfig(model=TINY_CONFIG, steps=250, batch_size=16, lr=3e-3, warmup_steps=5)
    result = train_depth3d(config, views=train_views, log=None)
    first, last = np.mean(result.losses[:20]), np.mean(result.losses[-20:])
    assert last < 0.7 * first, (first, last)
    assert not result.model.training
