"""Training and evaluation samples: procedural depth maps with exact intrinsics, distorted at random.

One sample starts from a rendered view's true z-depth D and focal f (`recon3r.data.procedural`):

1. normalise the scale: D_n = D / median(D) over valid pixels;
2. draw a shift t ∈ [shift_min, shift_max_frac · min(D_n)] and form the observed depth D_n - t,
   renormalised to median 1 (d_n = (D_n - t) / m); the target shift is t / m, so that d_n + t / m ∝ D;
3. draw log α ∈ [-log_focal_range, log_focal_range] and guess the focal f / α (target log α);
4. unproject N random valid pixels of d_n with the guessed focal: the shift network's input.
   The focal network's input is the same pixels after the true shift (plus a little noise, standing
   in for the shift network's error), since at inference it runs on the shift-corrected depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from recon3r.depth3d.geometry import pixels_to_points


@dataclass
class DepthView:
    """One ground-truth view: z-depth (H, W) (0 = no surface), focal (pixels), principal point, colours."""

    depth: np.ndarray  # (H, W) float32, metres, 0 where invalid
    focal: float
    principal_point: tuple[float, float]  # (cx, cy) pixels
    rgb: np.ndarray  # (H, W, 3) uint8


@dataclass(frozen=True)
class DistortionRange:
    """Ranges the random distortions are drawn from (uniformly)."""

    shift_min: float = -1.5  # in units of the true median depth; negative: the observed depth has an extra offset
    shift_max_frac: float = 0.9  # positive shifts up to this fraction of the nearest (normalised) depth
    log_focal_range: float = 0.65  # |log(true focal / guessed focal)| ≤ this (0.65: factor 1.9)
    residual_shift_noise: float = 0.05  # std of the shift error added to the focal network's input


def render_views(split: str, count: int, size: int = 64, seed: int = 0, min_valid: float = 0.3) -> list[DepthView]:
    """`count` single views of procedural scenes from `split` ('train', 'test', ...; disjoint streams).

    Views with less than `min_valid` of their pixels on a surface are skipped (the next scene is used).
    """
    from recon3r.data.multiview import split_seed
    from recon3r.data.procedural import generate_scene

    views: list[DepthView] = []
    index = 0
    stream = split_seed(seed, split)
    while len(views) < count:
        scene = generate_scene(stream, index, "pairs", 1, size)
        index += 1
        rendered = scene.render(0)
        if rendered.valid.mean() < min_valid:
            continue
        k = scene.cameras[0].intrinsics
        views.append(DepthView(rendered.depth.astype(np.float32), float(k[0, 0]), (float(k[0, 2]), float(k[1, 2])),
                               rendered.rgb))
    return views


@dataclass
class DistortedView:
    """One view after a random distortion: what a recovery method is given, and the truth."""

    depth: np.ndarray  # (H, W) observed depth, median 1 over valid pixels, 0 where invalid
    valid: np.ndarray  # (H, W) bool
    focal_guess: float
    shift: float  # target: add to `depth` to get a depth ∝ the true depth
    log_focal_scale: float  # target: log(true focal / focal_guess)


def distort_view(view: DepthView, rng: np.random.Generator, ranges: DistortionRange | None = None,
                 focal_guess: float | None = None) -> DistortedView:
    """Apply a random shift and focal error to a view (steps 1–3 of the module docstring).

    `focal_guess` fixes the guessed focal instead of drawing a focal error (e.g. a 60° field of view).
    """
    ranges = ranges or DistortionRange()
    valid = view.depth > 0
    truth = view.depth / np.median(view.depth[valid])
    t = rng.uniform(ranges.shift_min, ranges.shift_max_frac * float(truth[valid].min()))
    observed = np.where(valid, truth - t, 0.0)
    m = float(np.median(observed[valid]))
    if focal_guess is None:
        log_scale = rng.uniform(-ranges.log_focal_range, ranges.log_focal_range)
        focal_guess = view.focal / np.exp(log_scale)
    log_scale = float(np.log(view.focal / focal_guess))
    return DistortedView((observed / m).astype(np.float32), valid, float(focal_guess), t / m, log_scale)


def sample_pixels(valid: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) (x, y) of random valid pixels (with replacement only when there are too few)."""
    rows, cols = np.nonzero(valid)
    if len(rows) == 0:
        raise ValueError("no valid pixels to sample")
    pick = rng.choice(len(rows), size=count, replace=len(rows) < count)
    return np.stack([cols[pick], rows[pick]], axis=1)


def make_batch(views: list[DepthView], rng: np.random.Generator, batch_size: int, num_points: int,
               ranges: DistortionRange | None = None) -> dict[str, Tensor]:
    """A training batch drawn from `views` (float32, CPU).

    Returns {"shift_points": (B, N, 3), "focal_points": (B, N, 3), "shift": (B,), "log_focal_scale": (B,)}.
    Each cloud is mirrored left-right with probability 1/2 (a free augmentation).
    """
    ranges = ranges or DistortionRange()
    shift_depth, focal_depth, pixels, guesses, centres, shifts, log_scales = [], [], [], [], [], [], []
    for index in rng.integers(len(views), size=batch_size):
        view = views[int(index)]
        sample = distort_view(view, rng, ranges)
        xy = sample_pixels(sample.valid, num_points, rng)
        d = sample.depth[xy[:, 1], xy[:, 0]]
        noise = rng.normal(0.0, ranges.residual_shift_noise)
        shift_depth.append(d)
        focal_depth.append(np.maximum(d + sample.shift + noise, 1e-3))
        pixels.append(xy)
        guesses.append(sample.focal_guess)
        centres.append(view.principal_point)
        shifts.append(sample.shift)
        log_scales.append(sample.log_focal_scale)
    pixels_t = torch.as_tensor(np.stack(pixels), dtype=torch.float32)
    focal = torch.as_tensor(guesses, dtype=torch.float32)
    centre = torch.as_tensor(centres, dtype=torch.float32)
    mirror = torch.as_tensor(rng.uniform(size=batch_size) < 0.5)
    batch = {}
    for name, depths in (("shift_points", shift_depth), ("focal_points", focal_depth)):
        points = pixels_to_points(pixels_t, torch.as_tensor(np.stack(depths), dtype=torch.float32), focal, centre)
        points[..., 0] = torch.where(mirror[:, None], -points[..., 0], points[..., 0])
        batch[name] = points
    batch["shift"] = torch.as_tensor(shifts, dtype=torch.float32)
    batch["log_focal_scale"] = torch.as_tensor(log_scales, dtype=torch.float32)
    return batch
