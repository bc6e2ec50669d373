"""Scoring depth-to-3D recovery: distort held-out depth maps with a seed, recover, compare to the truth.

Each view's true z-depth and focal are distorted by `recon3r.tasks.depth_to_3d.distort_depth` (a
random shift; a focal guess off by a random factor, or a fixed field-of-view guess) and the method
recovers the shift and focal from the distorted map. Errors per view:

- shift error: |predicted − true| shift, in units of the observed median depth;
- focal error: |predicted / true focal − 1|;
- point error: mean ‖s·p − g‖ / mean ‖g‖ between corrected and true camera-frame points of the same
  pixels after the least-squares scale s (a monocular depth's scale stays unknown).

A method is a `Depth3DModel` or None, the no-correction baseline (shift 0, the guessed focal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from recon3r.geometry.cameras import depth_to_points, intrinsics_from_focal
from recon3r.geometry.focal import focal_from_fov
from recon3r.geometry.registration import fit_scale


@dataclass
class DepthView:
    """A view with exact depth: z-depth (H, W), 0 where unknown, intrinsics (3, 3) in pixels, RGB (H, W, 3) uint8."""

    depth: np.ndarray
    intrinsics: np.ndarray
    rgb: np.ndarray | None = None
    name: str = ""


@dataclass
class RecoveryErrors:
    """Per-view errors (arrays of shape (V,)) of one method; `summary()` gives their medians."""

    shift_error: np.ndarray
    focal_error: np.ndarray
    point_error: np.ndarray

    def summary(self) -> dict[str, float]:
        return {"shift_error": float(np.median(self.shift_error)),
                "focal_error_pct": 100 * float(np.median(self.focal_error)),
                "point_error": float(np.median(self.point_error)), "views": float(len(self.shift_error))}


def held_out_depth_views(count: int, size: int = 64, seed: int = 0, split: str = "test", min_valid: float = 0.3
                         ) -> list[DepthView]:
    """`count` single procedural views of `split` with at least `min_valid` of their pixels on a surface."""
    from recon3r.data.multiview import Procedural

    views: list[DepthView] = []
    scenes = count
    while len(views) < count:
        dataset = Procedural(scenes=scenes, views=1, kind="pairs", size=size, scene_seed=seed, split=split,
                             num_views=1)
        views = []
        for s in range(dataset.num_scenes):
            view = dataset.scene(s)[0]
            if (view["depthmap"] > 0).mean() >= min_valid:
                rgb = ((view["img"].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
                views.append(DepthView(view["depthmap"], view["camera_intrinsics"].astype(np.float64), rgb,
                                       view["label"]))
            if len(views) == count:
                break
        scenes = 2 * scenes
    return views


def point_error(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean ‖s·p − g‖ / mean ‖g‖ over corresponding (M, 3) points, s the least-squares scale."""
    p = torch.as_tensor(points, dtype=torch.float64)[None, :, None]
    g = torch.as_tensor(truth, dtype=torch.float64)[None, :, None]
    scale = float(fit_scale(p, g, mode="avg")[0])
    return float(np.linalg.norm(scale * points - truth, axis=1).mean() / np.linalg.norm(truth, axis=1).mean())


def evaluate_recovery(model: torch.nn.Module | None, views: Sequence[DepthView], seed: int = 1,
                      focal_guess_fov: float | None = None) -> RecoveryErrors:
    """Distort each view (seeded) and score `model`'s recovery; `model=None` scores the identity baseline.

    `focal_guess_fov` replaces the random focal error with a fixed horizontal field-of-view guess.
    """
    from recon3r.depth3d.recover import recover_shift_and_focal
    from recon3r.tasks.depth_to_3d import distort_depth

    rng = np.random.default_rng(seed)
    shift_err, focal_err, point_err = [], [], []
    for view in views:
        height, width = view.depth.shape
        focal = float(view.intrinsics[0, 0])
        centre = torch.as_tensor(view.intrinsics[None, :2, 2], dtype=torch.float64)
        guess = None if focal_guess_fov is None else float(focal_from_fov(width, focal_guess_fov))
        sample = distort_depth(view.depth.astype(np.float64), focal, rng, focal_guess=guess)
        if model is None:
            shift, recovered = 0.0, sample.focal_guess
            k = intrinsics_from_focal(torch.tensor([recovered], dtype=torch.float64), height, width, centre)
            points = depth_to_points(torch.as_tensor(sample.depth, dtype=torch.float64)[None], k)[0]
        else:
            result = recover_shift_and_focal(sample.depth.astype(np.float64), sample.focal_guess, model,
                                             principal_point=centre)
            shift, recovered, points = float(result.relative_shift), float(result.focal), result.points
        k_true = torch.as_tensor(view.intrinsics[None], dtype=torch.float64)
        truth = depth_to_points(torch.as_tensor(view.depth, dtype=torch.float64)[None], k_true)[0]
        valid = torch.as_tensor(sample.valid) & (points[..., 2] > 0)
        shift_err.append(abs(shift - sample.shift))
        focal_err.append(abs(recovered / focal - 1))
        point_err.append(point_error(points[valid].numpy(), truth[valid].numpy()))
    return RecoveryErrors(np.array(shift_err), np.array(focal_err), np.array(point_err))
