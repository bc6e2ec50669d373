"""The depth-to-3D task (LeReS point-cloud module): learn the depth shift and focal (and scale) of a depth map.

Any sample with depth and intrinsics serves (every view is used on its own): the collator turns
each view into one training cloud pair by a random, seeded distortion (`recon3r.geometry.depth_shift`):

1. normalise the true z-depth D to median 1: D_n = D / median(D);
2. draw a shift t ∈ [shift_min, shift_max_frac · min(D_n)]; the observed depth is D_n − t renormalised
   to median 1 (d = (D_n − t) / m) and the target shift is t / m, so that d + t / m ∝ D;
3. draw log α ∈ [−log_focal_range, log_focal_range]; the guessed focal is f / α (target log α);
4. pick `num_points` pixels of d the model's way (`recon3r.models.depth3d.select_pixels`) and
   unproject them with the guessed focal: the shift network's cloud. The focal (and scale)
   network's cloud is the same pixels after the true shift plus a little noise (standing in for the
   shift network's error), since at inference it runs on the shift-corrected depth. Clouds become
   network inputs with `cloud_features` (3 or 5 channels, the model's `input_channels`), and each
   cloud pair is mirrored left-right half the time.

Targets, one focal convention everywhere in recon3r: `shift` is relative to the observed median
depth (add it to the median-1 depth); `log_focal_scale` = log(true focal / guessed focal), so the
recovered focal is f = f_guess · exp(log_focal_scale) (Train-3D's `alpha_f = f_true / f0`, the
same direction; LeReS's released code divides instead: f = f0 / s); `log_scale` = log(true median
depth in metres). Randomness comes from each view's `rng_seed`, so a batch is a function of
(dataset seed, epoch, item) and a resumed run sees the same batches.

Options (`recon3r train --task_options "..."`, parsed into `Depth3DOptions`; Train-3D's spellings
`--targets`, `--distort_s`, `--distort_f` set them too, see `recon3r.seeds`): which targets are
trained, whether the shift and the focal are distorted, and the distortion ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from recon3r.data.sample import Sample
from recon3r.errors import ConfigError
from recon3r.geometry.cameras import intrinsics_from_focal, unproject_pixels
from recon3r.models.depth3d import cloud_features, select_pixels
from recon3r.tasks.base import Task

#: Views with fewer valid depth pixels are kept in the batch with weight 0.
MIN_VALID_PIXELS = 16
#: Target names → the prediction (and batch) key each one trains.
TARGET_KEYS = {"shift": "shift", "focal": "log_focal_scale", "scale": "log_scale"}
#: Train-3D's `--targets {0,1,2}`: 0 the shift, 1 the scale, 2 the focal length.
TRAIN3D_TARGETS = {0: "shift", 1: "scale", 2: "focal"}


@dataclass(frozen=True)
class DistortionRange:
    """Ranges the random distortions are drawn from (uniformly)."""

    shift_min: float = -1.5  # in units of the true median depth; negative: the observed depth has an extra offset
    shift_max_frac: float = 0.9  # positive shifts up to this fraction of the nearest (normalised) depth
    log_focal_range: float = 0.65  # |log(true focal / guessed focal)| ≤ this (0.65: factor 1.9)
    residual_shift_noise: float = 0.05  # std of the shift error added to the focal network's input


@dataclass(frozen=True)
class Depth3DOptions:
    """The depth-to-3D task's options (`--task_options`); Train-3D's flag for each in brackets.

    targets: comma-separated names among "shift", "focal", "scale", or "all" (every head of the
        model) [`--targets 0|1|2`: shift, scale, focal]. Other heads still get metrics, no loss.
    distort_shift: draw a random depth shift [`--distort_s`]; off: the shift label is 0.
    distort_focal: draw a random focal error [`--distort_f`]; off: the guess is the true focal.
    shift_min, shift_max_frac, log_focal_range, residual_shift_noise: see `DistortionRange`.
    """

    targets: str = "all"
    distort_shift: bool = True
    distort_focal: bool = True
    shift_min: float = DistortionRange.shift_min
    shift_max_frac: float = DistortionRange.shift_max_frac
    log_focal_range: float = DistortionRange.log_focal_range
    residual_shift_noise: float = DistortionRange.residual_shift_noise

    def ranges(self) -> DistortionRange:
        shift = (self.shift_min, self.shift_max_frac) if self.distort_shift else (0.0, 0.0)
        focal = self.log_focal_range if self.distort_focal else 0.0
        return DistortionRange(shift[0], shift[1], focal, self.residual_shift_noise)

    def target_names(self, heads: tuple[str, ...]) -> tuple[str, ...]:
        """The trained targets for a model with `heads`; ConfigError naming a target it lacks."""
        if self.targets.strip() == "all":
            return heads
        names = tuple(dict.fromkeys(n.strip() for n in self.targets.split(",") if n.strip()))
        unknown = [n for n in names if n not in TARGET_KEYS]
        if unknown or not names:
            raise ConfigError(f"task option targets={self.targets!r}: expected 'all' or names among "
                              f"{', '.join(TARGET_KEYS)}")
        missing = [n for n in names if n not in heads]
        if missing:
            raise ConfigError(f"task option targets={self.targets!r}: the model has no {missing[0]} network "
                              "(Depth3DModel(..., predict_scale=True) adds the scale one)")
        return names


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
    return select_pixels(np.zeros(valid.shape), valid, np.eye(3), count, rng)


class Depth3DLoss(nn.Module):
    """Smooth-L1 (`beta` in target units) on each trained target: relative shift, log focal scale, log scale.

    Terms are computed for the prediction keys present (the task passes only its trained targets).
    """

    def __init__(self, beta: float = 0.05, shift_weight: float = 1.0, focal_weight: float = 1.0,
                 scale_weight: float = 1.0):
        super().__init__()
        self.beta = float(beta)
        self.weights = {"shift": float(shift_weight), "log_focal_scale": float(focal_weight),
                        "log_scale": float(scale_weight)}

    def forward(self, batch: Mapping[str, Tensor], predictions: Mapping[str, Tensor]) -> tuple[Tensor, dict]:
        weight = batch["weight"]
        total = weight.sum().clamp_min(1.0)
        loss = weight.new_zeros(())
        details = {}
        for key, name in (("shift", "shift_loss"), ("log_focal_scale", "focal_loss"), ("log_scale", "scale_loss")):
            if key not in predictions:
                continue
            per = nn.functional.smooth_l1_loss(predictions[key], batch[key], beta=self.beta, reduction="none")
            term = (per * weight).sum() / total
            loss = loss + self.weights[key] * term
            details[name] = float(term.detach())
        if not details:
            raise ConfigError("Depth3DLoss: no prediction to train (targets select none of the model's outputs)")
        return loss, details

    def __repr__(self) -> str:
        w = self.weights
        return (f"Depth3DLoss(beta={self.beta!r}, shift_weight={w['shift']!r}, focal_weight={w['log_focal_scale']!r}, "
                f"scale_weight={w['log_scale']!r})")


class DepthTo3DTask(Task):
    name = "depth_to_3d"
    min_views = 1
    default_criterion = "Depth3DLoss()"
    commands = ("depth-to-3d",)
    options_class: ClassVar[type] = Depth3DOptions

    def __init__(self, ranges: DistortionRange | None = None, num_points: int = 512,
                 options: Depth3DOptions | None = None):
        self.options = options or Depth3DOptions()
        self.ranges = ranges or self.options.ranges()
        self.num_points = int(num_points)
        self.input_channels, self.voxel_size = 3, 0.0
        self.targets: tuple[str, ...] = ("shift", "focal")

    def apply_options(self, options: Depth3DOptions) -> None:
        self.options = options
        self.ranges = options.ranges()

    def configure(self, model: nn.Module) -> None:
        self.num_points = int(getattr(model, "num_points", self.num_points))
        self.input_channels = int(getattr(model, "input_channels", 3))
        self.voxel_size = float(getattr(model, "voxel_size", 0.0))
        self.targets = self.options.target_names(tuple(getattr(model, "heads", ("shift", "focal"))))

    def collate(self, samples: list[Sample]) -> dict[str, Tensor]:
        """Every view of every sample → one distorted cloud pair (see the module docstring).

        Returns `shift_points`, `focal_points` (V, N, C), `shift`, `log_focal_scale`, `log_scale`, `weight` (V,).
        """
        shift_points, focal_points, targets, weights = [], [], [], []
        for sample in samples:
            for view in sample:
                rng = np.random.default_rng([int(view["rng_seed"]), int(view["idx"][2])])
                depth = np.asarray(view["depthmap"], dtype=np.float64)
                k = np.asarray(view["camera_intrinsics"], dtype=np.float64)
                valid = np.isfinite(depth) & (depth > 0)
                if valid.sum() < MIN_VALID_PIXELS:
                    dummy = torch.ones(self.num_points, self.input_channels)
                    shift_points.append(dummy)
                    focal_points.append(dummy)
                    targets.append((0.0, 0.0, 0.0))
                    weights.append(0.0)
                    continue
                pair, shift, log_focal_scale = self.distorted_clouds(depth, k, rng)
                shift_points.append(pair[0])
                focal_points.append(pair[1])
                targets.append((shift, log_focal_scale, float(np.log(np.median(depth[valid])))))
                weights.append(1.0)
        values = torch.tensor(targets, dtype=torch.float32)
        return {"shift_points": torch.stack(shift_points), "focal_points": torch.stack(focal_points),
                "shift": values[:, 0], "log_focal_scale": values[:, 1], "log_scale": values[:, 2],
                "weight": torch.tensor(weights, dtype=torch.float32)}

    def distorted_clouds(self, depth: np.ndarray, intrinsics: np.ndarray, rng: np.random.Generator
                         ) -> tuple[tuple[Tensor, Tensor], float, float]:
        """((shift cloud, focal cloud) (N, C) float32, target shift, target log focal scale) of one view."""
        height, width = depth.shape
        focal = float(intrinsics[0, 0])
        sample = distort_depth(depth, focal, rng, self.ranges)
        centre = torch.as_tensor(intrinsics[None, :2, 2], dtype=torch.float64)
        k = intrinsics_from_focal(torch.tensor([sample.focal_guess], dtype=torch.float64), height, width, centre)
        xy = select_pixels(sample.depth, sample.valid, k[0].numpy(), self.num_points, rng, self.voxel_size)
        observed = sample.depth[xy[:, 1], xy[:, 0]].astype(np.float64)
        noise = rng.normal(0.0, self.ranges.residual_shift_noise) if self.ranges.residual_shift_noise > 0 else 0.0
        corrected = np.maximum(observed + sample.shift + noise, 1e-3)
        pixels = torch.as_tensor(xy[None], dtype=torch.float64)
        mirror = rng.uniform() < 0.5
        clouds = []
        for d in (observed, corrected):
            points = unproject_pixels(pixels, torch.as_tensor(d[None]), k)
            features = cloud_features(points, pixels, centre, (height, width), self.input_channels)[0]
            if mirror:
                features[:, 0] = -features[:, 0]
                if self.input_channels == 5:
                    features[:, 3] = -features[:, 3]
            clouds.append(features.float())
        return (clouds[0], clouds[1]), float(sample.shift), float(sample.log_focal_scale)

    def forward(self, model: nn.Module, batch: Any) -> Any:
        return model(batch["shift_points"], batch["focal_points"])

    def criteria(self) -> Mapping[str, Any]:
        return {"Depth3DLoss": Depth3DLoss}

    def loss(self, criterion: Any, batch: Any, predictions: Any) -> tuple[Tensor, dict]:
        """The criterion over the trained targets only (`Depth3DOptions.targets`)."""
        trained = {TARGET_KEYS[name] for name in self.targets}
        return criterion(batch, {k: v for k, v in predictions.items() if k in trained})

    def metrics(self, batch: Any, predictions: Any) -> dict[str, float]:
        """Mean |shift error| (× median depth), mean |focal / true focal − 1| and, with a scale
        network, mean |scale / true scale − 1|, over weighted views."""
        weight = batch["weight"]
        total = float(weight.sum().clamp_min(1.0))
        shift = (predictions["shift"] - batch["shift"]).abs()
        focal = (predictions["log_focal_scale"] - batch["log_focal_scale"]).exp().sub(1).abs()
        out = {"shift_error": float((shift * weight).sum()) / total,
               "focal_error": float((focal * weight).sum()) / total}
        if "log_scale" in predictions:
            scale = (predictions["log_scale"] - batch["log_scale"]).exp().sub(1).abs()
            out["scale_error"] = float((scale * weight).sum()) / total
        return out
