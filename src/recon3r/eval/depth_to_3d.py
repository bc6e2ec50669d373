"""The depth_to_3d task: distort held-out depth maps with a seed, recover shift and focal, compare to the truth.

Each map's true z-depth and focal are distorted by `recon3r.tasks.depth_to_3d.distort_depth` (a
random shift; a focal guess off by a random factor, or a fixed field-of-view guess), once per
benchmark with one seeded generator over the maps in order (`make_trials`), so every method gets
the same inputs. A method recovers the shift and focal from the distorted map. Errors per map:

- shift error: |predicted − true| shift, in units of the observed median depth;
- focal error: |predicted / true focal − 1| (`focal_error_pct` in %);
- point error: mean ‖s·p − g‖ / mean ‖g‖ between corrected and true camera-frame points of the same
  pixels after the least-squares scale s (a monocular depth's scale stays unknown).
Aggregates are medians over the maps.

Methods: `Depth3DMethod` (a `Depth3DModel` checkpoint), and the baselines `NoCorrectionMethod`
(shift 0, the focal guess it is given) and `FovGuessMethod` (shift 0, the 60° field of view that
`recon3r depth-to-3d` assumes without a model, whatever guess it is given).

Maps come from `held_out_depth_views` (procedural) or `read_depth_folder` (the Train-3D layout).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from recon3r.errors import ConfigError
from recon3r.eval.methods import Method, MethodSettings, Prediction
from recon3r.geometry.cameras import depth_to_points, intrinsics_from_focal
from recon3r.geometry.focal import focal_from_fov
from recon3r.geometry.registration import fit_scale

if TYPE_CHECKING:
    from recon3r.tasks.depth_to_3d import DistortedDepth

#: Focal guesses a depth_to_3d evaluation can give its methods: a random factor off the truth
#: (the training distribution), or the CLI's fixed 60° field of view.
FOCAL_GUESSES = ("random", "fov60")
DEFAULT_FOV_DEG = 60.0
#: Minimum share of pixels with depth for a procedural map: scenes, and object-centric maps.
MIN_VALID_SCENE, MIN_VALID_OBJECT = 0.3, 0.05
#: Keys read from a Train-3D depth .npz, in order of preference.
DEPTH_KEYS = ("depth", "depthmap", "depth_map", "z")
MASK_KEYS = ("mask", "valid", "valid_mask")


@dataclass
class DepthView:
    """A view with exact depth: z-depth (H, W), 0 where unknown, intrinsics (3, 3) in pixels, RGB (H, W, 3) uint8."""

    depth: np.ndarray
    intrinsics: np.ndarray
    rgb: np.ndarray | None = None
    name: str = ""


@dataclass
class DepthTrial:
    """A view and its seeded distortion: what every method is given for this map."""

    view: DepthView
    distorted: DistortedDepth

    @property
    def name(self) -> str:
        return self.view.name


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


# --------------------------------------------------------------------------------------------
# Depth maps


def held_out_depth_views(count: int, size: int = 64, seed: int = 0, split: str = "test",
                         min_valid: float | None = None, kind: str = "pairs", views: int = 1) -> list[DepthView]:
    """`count` procedural depth maps of `split` with at least `min_valid` of their pixels on a surface.

    kind: a procedural camera path (`pairs`, `sequence`, `orbit`: rooms and yards), each of the
    `views` views of a scene a map of its own; or `object`: procedural objects alone (depth on the
    object only, `recon3r.data.procedural.objects`), one render each. `min_valid` defaults to
    `MIN_VALID_SCENE` (scenes) or `MIN_VALID_OBJECT` (objects).
    """
    if kind == "object":
        return _object_depth_views(count, size, seed, split, MIN_VALID_OBJECT if min_valid is None else min_valid)
    from recon3r.data.multiview import Procedural

    min_valid = MIN_VALID_SCENE if min_valid is None else min_valid
    out: list[DepthView] = []
    scenes = -(-count // views)
    while len(out) < count:
        dataset = Procedural(scenes=scenes, views=views, kind=kind, size=size, scene_seed=seed, split=split,
                             num_views=views)
        out = []
        for s in range(dataset.num_scenes):
            for view in dataset.scene(s):
                if (view["depthmap"] > 0).mean() >= min_valid:
                    rgb = ((view["img"].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
                    name = view["label"] if views == 1 else f"{view['label']}/{view['instance']}"
                    out.append(DepthView(view["depthmap"], view["camera_intrinsics"].astype(np.float64), rgb, name))
                if len(out) == count:
                    return out
        scenes = 2 * scenes
    return out


def _object_depth_views(count: int, size: int, seed: int, split: str, min_valid: float) -> list[DepthView]:
    from recon3r.data.multiview import split_seed
    from recon3r.data.procedural.objects import object_name, render_object
    from recon3r.data.rendered_objects import MIRA_FOV_DEG, intrinsics_from_fov

    out: list[DepthView] = []
    index = 0
    while len(out) < count:
        if index > 20 * count + 20:
            raise ConfigError(f"fewer than {count} procedural objects cover {min_valid:.0%} of a {size} px view")
        data = render_object(split_seed(seed, split), index, 1, size)
        depth = data["depth"][0].astype(np.float32)
        if (depth > 0).mean() >= min_valid:
            out.append(DepthView(depth, intrinsics_from_fov(MIRA_FOV_DEG, size, size), data["rgba"][0, ..., :3],
                                 object_name(index)))
        index += 1
    return out


def read_depth_folder(root: str | Path) -> list[DepthView]:
    """Every map of a folder in the Train-3D layout (what `recon3r data depth3d` writes).

    root/depths/<name>.npz: the depth map under the first of `DEPTH_KEYS` present (else the
    archive's only 2-D array), z-depth in any unit, and optionally a boolean mask under the first of
    `MASK_KEYS`; root/intrinsics/<name>.npy: a 3 × 3 K in pixels (or fx, fy, cx, cy). Pixels that
    are masked out, ≤ 0 or not finite are invalid (depth 0). Raises ConfigError naming the file.
    """
    root = Path(root)
    paths = sorted((root / "depths").glob("*.npz"))
    if not paths:
        raise ConfigError(f"{root / 'depths'}: no .npz depth maps")
    views = []
    for path in paths:
        k_path = root / "intrinsics" / f"{path.stem}.npy"
        if not k_path.is_file():
            raise ConfigError(f"{path}: no intrinsics {k_path}")
        try:
            with np.load(path) as archive:
                arrays = {key: archive[key] for key in archive.files}
            k = np.load(k_path).astype(np.float64)
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read {path} or {k_path}: {err}") from None
        key = next((key for key in DEPTH_KEYS if key in arrays), None)
        if key is None:
            planes = [key for key, value in arrays.items() if np.asarray(value).ndim == 2 and value.dtype != bool]
            if len(planes) != 1:
                raise ConfigError(f"{path}: no depth map (expected one of {', '.join(DEPTH_KEYS)}, got "
                                  f"{', '.join(arrays) or 'nothing'})")
            key = planes[0]
        depth = np.asarray(arrays[key], dtype=np.float64)
        if depth.ndim != 2:
            raise ConfigError(f"{path}: {key} must be an (H, W) depth map, got shape {depth.shape}")
        valid = np.isfinite(depth) & (depth > 0)
        mask_key = next((key for key in MASK_KEYS if key in arrays), None)
        if mask_key is not None:
            mask = np.asarray(arrays[mask_key]).astype(bool)
            if mask.shape != depth.shape:
                raise ConfigError(f"{path}: {mask_key} is {mask.shape}, the depth {depth.shape}")
            valid &= mask
        if k.shape == (4,):
            k = np.array([[k[0], 0.0, k[2]], [0.0, k[1], k[3]], [0.0, 0.0, 1.0]])
        if k.shape != (3, 3) or not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0:
            raise ConfigError(f"{k_path}: expected a 3 × 3 pinhole K in pixels, got {k.tolist()}")
        views.append(DepthView(np.where(valid, depth, 0.0).astype(np.float32), k, name=path.stem))
    return views


# --------------------------------------------------------------------------------------------
# Trials and scores


def make_trials(views: Sequence[DepthView], seed: int = 1, focal_guess: str = "random") -> list[DepthTrial]:
    """Distort each view in order with one generator seeded by `seed` (`focal_guess`: see FOCAL_GUESSES)."""
    from recon3r.tasks.depth_to_3d import distort_depth

    if focal_guess not in FOCAL_GUESSES:
        raise ConfigError(f"unknown focal guess {focal_guess!r}; expected one of {', '.join(FOCAL_GUESSES)}")
    rng = np.random.default_rng(seed)
    trials = []
    for view in views:
        width = view.depth.shape[1]
        guess = float(focal_from_fov(width, DEFAULT_FOV_DEG)) if focal_guess == "fov60" else None
        distorted = distort_depth(view.depth.astype(np.float64), float(view.intrinsics[0, 0]), rng, focal_guess=guess)
        trials.append(DepthTrial(view, distorted))
    return trials


def point_error(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean ‖s·p − g‖ / mean ‖g‖ over corresponding (M, 3) points, s the least-squares scale."""
    p = torch.as_tensor(points, dtype=torch.float64)[None, :, None]
    g = torch.as_tensor(truth, dtype=torch.float64)[None, :, None]
    scale = float(fit_scale(p, g, mode="avg")[0])
    return float(np.linalg.norm(scale * points - truth, axis=1).mean() / np.linalg.norm(truth, axis=1).mean())


def score_recovery(prediction: Prediction, trial: DepthTrial) -> dict[str, float]:
    """Shift error, focal error (%) and point error of one recovered map (see the module docstring)."""
    if prediction.points is None or "relative_shift" not in prediction.info:
        raise ValueError(prediction.error or "the method recovered no shift, focal and points")
    view = trial.view
    points = torch.as_tensor(prediction.points[0], dtype=torch.float64)
    truth = depth_to_points(torch.as_tensor(view.depth, dtype=torch.float64)[None],
                            torch.as_tensor(view.intrinsics[None], dtype=torch.float64))[0]
    valid = torch.as_tensor(trial.distorted.valid) & (points[..., 2] > 0)
    if not valid.any():
        raise ValueError("no pixel keeps a positive depth after the recovered shift")
    return {"shift_error": abs(float(prediction.info["relative_shift"]) - trial.distorted.shift),
            "focal_error_pct": 100 * abs(float(prediction.info["focal"]) / float(view.intrinsics[0, 0]) - 1),
            "point_error": point_error(points[valid].numpy(), truth[valid].numpy())}


def _principal_point(view: DepthView) -> torch.Tensor:
    return torch.as_tensor(view.intrinsics[None, :2, 2], dtype=torch.float64)


def _uncorrected(trial: DepthTrial, focal: float, start: float) -> Prediction:
    """Shift 0 and `focal`: the distorted depth unprojected as it is."""
    height, width = trial.distorted.depth.shape
    k = intrinsics_from_focal(torch.tensor([focal], dtype=torch.float64), height, width, _principal_point(trial.view))
    points = depth_to_points(torch.as_tensor(trial.distorted.depth, dtype=torch.float64)[None], k)[0]
    return Prediction(world_from_cam=None, points=[points.numpy()], seconds=time.perf_counter() - start,
                      info={"relative_shift": 0.0, "focal": focal})


class Depth3DMethod(Method):
    """A `Depth3DModel` checkpoint: `recover_shift_and_focal` from the distorted map and its focal guess.

    Either `weights` (a checkpoint `load_model` reads, loaded on first use) or a built `model`.
    """

    system = "depth_to_3d"
    tasks = ("depth_to_3d",)

    def __init__(self, weights: str | Path | None = None, *, model: torch.nn.Module | None = None,
                 name: str | None = None, device: str = "cpu"):
        if weights is None and model is None:
            raise ValueError("Depth3DMethod needs weights or a model")
        self.weights = Path(weights) if weights is not None else None
        self.model, self.device = model, device
        self.name = name or (self.weights.name if self.weights is not None else type(model).__name__)

    @classmethod
    def from_checkpoint(cls, path: str | Path, settings: MethodSettings, *, model: torch.nn.Module | None = None,
                        name: str | None = None) -> Depth3DMethod:
        return cls(path, model=model, name=name, device=settings.device)

    def load(self) -> torch.nn.Module:
        if self.model is None:
            from recon3r.models.checkpoint import load_model

            self.model = load_model(self.weights, device=self.device, task="depth_to_3d")
        return self.model

    def predict(self, trial: DepthTrial) -> Prediction:
        from recon3r.depth3d.recover import recover_shift_and_focal

        model = self.load()
        start = time.perf_counter()
        try:
            result = recover_shift_and_focal(trial.distorted.depth.astype(np.float64), trial.distorted.focal_guess,
                                             model, principal_point=_principal_point(trial.view))
        except ValueError as err:  # e.g. too few valid pixels: this map fails, the others are scored
            return Prediction(world_from_cam=None, seconds=time.perf_counter() - start, error=str(err))
        return Prediction(world_from_cam=None, points=[result.points.numpy()], seconds=time.perf_counter() - start,
                          info={"relative_shift": float(result.relative_shift), "focal": float(result.focal),
                                "focal_guess": trial.distorted.focal_guess})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "learned", "system": self.system,
                "weights": str(self.weights) if self.weights else None, "device": self.device}


class NoCorrectionMethod(Method):
    """Baseline: no shift, and the focal guess the map comes with."""

    name = "no-correction"
    tasks = ("depth_to_3d",)

    def predict(self, trial: DepthTrial) -> Prediction:
        return _uncorrected(trial, trial.distorted.focal_guess, time.perf_counter())

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "baseline", "shift": 0.0, "focal": "the guess given"}


class FovGuessMethod(Method):
    """Baseline: no shift and a fixed horizontal field of view (60°: what `recon3r depth-to-3d` assumes)."""

    tasks = ("depth_to_3d",)

    def __init__(self, fov_degrees: float = DEFAULT_FOV_DEG):
        self.fov_degrees = float(fov_degrees)
        self.name = f"fov-{self.fov_degrees:g}"

    def predict(self, trial: DepthTrial) -> Prediction:
        width = trial.distorted.depth.shape[1]
        return _uncorrected(trial, float(focal_from_fov(width, self.fov_degrees)), time.perf_counter())

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "baseline", "shift": 0.0, "fov_degrees": self.fov_degrees}


def evaluate_recovery(model: torch.nn.Module | None, views: Sequence[DepthView], seed: int = 1,
                      focal_guess_fov: float | None = None) -> RecoveryErrors:
    """Distort each view (seeded) and score `model`'s recovery; `model=None` scores the no-correction baseline.

    `focal_guess_fov` replaces the random focal error with a fixed horizontal field-of-view guess
    (only 60°, `DEFAULT_FOV_DEG`, as the task's `fov60`).
    """
    if focal_guess_fov not in (None, DEFAULT_FOV_DEG):
        raise ConfigError(f"focal_guess_fov must be None or {DEFAULT_FOV_DEG:g}, got {focal_guess_fov}")
    trials = make_trials(views, seed, "random" if focal_guess_fov is None else "fov60")
    method: Method = NoCorrectionMethod() if model is None else Depth3DMethod(model=model)
    scores = [score_recovery(method.predict(trial), trial) for trial in trials]
    return RecoveryErrors(np.array([s["shift_error"] for s in scores]),
                          np.array([s["focal_error_pct"] / 100 for s in scores]),
                          np.array([s["point_error"] for s in scores]))
