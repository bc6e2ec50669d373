"""The depth-to-3D task (LeReS point-cloud module): learn the depth shift and focal of a depth map.

Any sample with depth and intrinsics serves (every view is used on its own): the collator turns
each view into one training cloud pair by a random, seeded distortion (`recon3r.geometry.depth_shift`):

1. normalise the true z-depth D to median 1: D_n = D / median(D);
2. draw a shift t ∈ [shift_min, shift_max_frac · min(D_n)]; the observed depth is D_n − t renormalised
   to median 1 (d = (D_n − t) / m) and the target shift is t / m, so that d + t / m ∝ D;
3. draw log α ∈ [−log_focal_range, log_focal_range]; the guessed focal is f / α (target log α);
4. unproject `num_points` random valid pixels of d with the guessed focal: the shift network's cloud.
   The focal network's cloud is the same pixels after the true shift plus a little noise (standing in
   for the shift network's error), since at inference it runs on the shift-corrected depth.
   Each cloud pair is mirrored left-right half the time.

The targets follow the LeReS convention: shift relative to the observed median depth, focal scale
= true focal / guessed focal (so f = f_guess · scale). Randomness comes from each view's `rng_seed`,
so a batch is a function of (dataset seed, epoch, item) and a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from recon3r.data.sample import Sample
from recon3r.geometry.cameras import intrinsics_from_focal, unproject_pixels
from recon3r.tasks.base import Task

#: Views with fewer valid depth pixels are kept in the batch with weight 0.
MIN_VALID_PIXELS = 16


@dataclass(frozen=True)
class DistortionRange:
    """Ranges the random distortions are drawn from (uniformly)."""

    shift_min: float = -1.5  # in units of the true median depth; negative: the observed depth has an extra offset
    shift_max_frac: float = 0.9  # positive shifts up to this fraction of the nearest (normalised) depth
    log_focal_range: float = 0.65  # |log(true focal / guessed focal)| ≤ this (0.65: factor 1.9)
    residual_shift_noise: float = 0.05  # std of the shift error added to the focal network's input


@dataclass
class DistortedDepth:
    """One view after a random distortion: what a recovery method is given, and the targets."""

    depth: np.ndarray  # (H, W) observed depth, median 1 over valid pixels, 0 where invalid
    valid: np.ndarray  # (H, W) bool
    focal_guess: float
    shift: float  # add to `depth` to get a depth ∝ the true depth
    log_focal_scale: float  # log(true focal / focal_guess)


def distort_depth(depth: np.ndarray, focal: float, rng: np.random.Generator, ranges: DistortionRange | None = None,
                  focal_guess: float | None = None) -> DistortedDepth:
    """Steps 1–3 of the module docstring on a true z-depth (H, W) (0 = invalid) with true focal (pixels).

    `focal_guess` fixes the guessed focal (e.g. a 60° field of view) instead of drawing a focal error.
    """
    ranges = ranges or DistortionRange()
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise ValueError("the depth map has no valid pixel")
    truth = np.where(valid, depth, 0.0) / np.median(depth[valid])
    t = rng.uniform(ranges.shift_min, ranges.shift_max_frac * float(truth[valid].min()))
    observed = np.where(valid, truth - t, 0.0)
    m = float(np.median(observed[valid]))
    if focal_guess is None:
        focal_guess = focal / np.exp(rng.uniform(-ranges.log_focal_range, ranges.log_focal_range))
    return DistortedDepth((observed / m).astype(np.float32), valid, float(focal_guess), t / m,
                          float(np.log(focal / focal_guess)))


def sample_pixels(valid: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) (x, y) of random valid pixels (with replacement only when there are too few)."""
    rows, cols = np.nonzero(valid)
    if len(rows) == 0:
        raise ValueError("no valid pixels to sample")
    pick = rng.choice(len(rows), size=count, replace=len(rows) < count)
    return np.stack([cols[pick], rows[pick]], axis=1)


class Depth3DLoss(nn.Module):
    """Smooth-L1 on the relative shift plus smooth-L1 on the log focal scale (`beta` in target units)."""

    def __init__(self, beta: float = 0.05, shift_weight: float = 1.0, focal_weight: float = 1.0):
        super().__init__()
        self.beta, self.shift_weight, self.focal_weight = float(beta), float(shift_weight), float(focal_weight)

    def forward(self, batch: Mapping[str, Tensor], predictions: Mapping[str, Tensor]) -> tuple[Tensor, dict]:
        weight = batch["weight"]
        total = weight.sum().clamp_min(1.0)

        def term(name: str) -> Tensor:
            per = nn.functional.smooth_l1_loss(predictions[name], batch[name], beta=self.beta, reduction="none")
            return (per * weight).sum() / total

        shift, focal = term("shift"), term("log_focal_scale")
        loss = self.shift_weight * shift + self.focal_weight * focal
        return loss, {"shift_loss": float(shift.detach()), "focal_loss": float(focal.detach())}

    def __repr__(self) -> str:
        return f"Depth3DLoss(beta={self.beta!r}, shift_weight={self.shift_weight!r}, focal_weight={self.focal_weight!r})"


class DepthTo3DTask(Task):
    name = "depth_to_3d"
    min_views = 1
    default_criterion = "Depth3DLoss()"
    commands = ("depth-to-3d",)

    def __init__(self, ranges: DistortionRange | None = None, num_points: int = 512):
        self.ranges = ranges or DistortionRange()
        self.num_points = int(num_points)

    def configure(self, model: nn.Module) -> None:
        self.num_points = int(getattr(model, "num_points", self.num_points))

    def collate(self, samples: list[Sample]) -> dict[str, Tensor]:
        """Every view of every sample → one distorted cloud pair (see the module docstring).

        Returns `shift_points`, `focal_points` (V, N, 3), `shift`, `log_focal_scale`, `weight` (V,).
        """
        shift_points, focal_points, shifts, log_scales, weights = [], [], [], [], []
        for sample in samples:
            for view in sample:
                rng = np.random.default_rng([int(view["rng_seed"]), int(view["idx"][2])])
                depth = np.asarray(view["depthmap"], dtype=np.float64)
                k = np.asarray(view["camera_intrinsics"], dtype=np.float64)
                valid = np.isfinite(depth) & (depth > 0)
                if valid.sum() < MIN_VALID_PIXELS:
                    dummy = torch.ones(self.num_points, 3)
                    shift_points.append(dummy)
                    focal_points.append(dummy)
                    shifts.append(0.0)
                    log_scales.append(0.0)
                    weights.append(0.0)
                    continue
                pair, shift, log_scale = self.distorted_clouds(depth, k, rng)
                shift_points.append(pair[0])
                focal_points.append(pair[1])
                shifts.append(shift)
                log_scales.append(log_scale)
                weights.append(1.0)
        return {"shift_points": torch.stack(shift_points), "focal_points": torch.stack(focal_points),
                "shift": torch.tensor(shifts, dtype=torch.float32),
                "log_focal_scale": torch.tensor(log_scales, dtype=torch.float32),
                "weight": torch.tensor(weights, dtype=torch.float32)}

    def distorted_clouds(self, depth: np.ndarray, intrinsics: np.ndarray, rng: np.random.Generator
                         ) -> tuple[tuple[Tensor, Tensor], float, float]:
        """((shift cloud, focal cloud) (N, 3) float32, target shift, target log focal scale) of one view."""
        focal = float(intrinsics[0, 0])
        sample = distort_depth(depth, focal, rng, self.ranges)
        xy = sample_pixels(sample.valid, self.num_points, rng)
        observed = sample.depth[xy[:, 1], xy[:, 0]].astype(np.float64)
        noise = rng.normal(0.0, self.ranges.residual_shift_noise)
        corrected = np.maximum(observed + sample.shift + noise, 1e-3)
        k = intrinsics_from_focal(torch.tensor([sample.focal_guess], dtype=torch.float64), *depth.shape,
                                  torch.as_tensor(intrinsics[None, :2, 2], dtype=torch.float64))
        pixels = torch.as_tensor(xy[None], dtype=torch.float64)
        mirror = rng.uniform() < 0.5
        clouds = []
        for d in (observed, corrected):
            points = unproject_pixels(pixels, torch.as_tensor(d[None]), k)[0]
            if mirror:
                points[:, 0] = -points[:, 0]
            clouds.append(points.float())
        return (clouds[0], clouds[1]), float(sample.shift), float(sample.log_focal_scale)

    def forward(self, model: nn.Module, batch: Any) -> Any:
        return model(batch["shift_points"], batch["focal_points"])

    def criteria(self) -> Mapping[str, Any]:
        return {"Depth3DLoss": Depth3DLoss}

    def metrics(self, batch: Any, predictions: Any) -> dict[str, float]:
        """Mean |shift error| (× median depth) and mean |focal / true focal − 1| over weighted views."""
        weight = batch["weight"]
        total = float(weight.sum().clamp_min(1.0))
        shift = (predictions["shift"] - batch["shift"]).abs()
        focal = (predictions["log_focal_scale"] - batch["log_focal_scale"]).exp().sub(1).abs()
        return {"shift_error": float((shift * weight).sum()) / total,
                "focal_error": float((focal * weight).sum()) / total}
