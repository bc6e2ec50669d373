"""The evaluation tasks: run each method on each scene, score it with `recon3r.eval.metrics`, aggregate.

Per task, what one scene gives and how scenes are pooled:
- `relpose`: `relpose_metrics` over all pairs i < j of the scene's images (RRA/RTA@5/15/30,
  mAA@30); images without a pose (NaN) fail every pair they belong to. Aggregate: the mean over
  scenes of each percentage; `registered`, `images`, `pairs` are summed.
- `mv_recon`: `pointcloud_metrics` of the predicted world points of all views against the GT
  points of the same pixels (GT depth unprojected with the GT K and pose), after a Sim(3) Umeyama
  fit on those corresponding points (optionally ICP), normals from the pixel grid of each point
  map (or PCA). Only pixels with GT depth count. Aggregate: the mean over scenes.
- `depth`: `depth_metrics` per image with GT depth, `median` alignment by default (per frame).
  Aggregate: the mean over all evaluated frames.
- `video_depth`: `depth_metrics` of each whole sequence (F, H, W) with one alignment for the
  sequence, `scale` by default (robust L1 scale). Aggregate: the mean over sequences.
  Unless the alignment asked for is `scale&shift`, the same metrics after one `scale&shift` fit
  per sequence are added with the suffix `_ss`.
- `trajectory`: `trajectory_metrics` (ATE after Sim(3) Umeyama, RPE at Δ = 1). Aggregate: the mean
  over sequences.
- `novel_view`: `recon3r.eval.novel_view.score_novel_view` (PSNR, SSIM, mask IoU of the held-out
  views, Chamfer distance). Aggregate: the mean over objects (Chamfer over those with a surface).
- `depth_to_3d`: `recon3r.eval.depth_to_3d.score_recovery` of each map after one seeded distortion
  per map, shared by all methods (`make_trials`). Aggregate: the median over maps.
Methods that report per-frame latency and peak memory (streaming) get `ms_per_frame` (mean over
all frames) and `peak_memory_mb` (max over scenes) in their aggregate.

Ground truth is sampled onto each method's prediction grid by nearest neighbour through the
method's `ImageTransform` (file pixel ↔ network pixel). A scene a method fails on (no prediction,
non-finite trajectory) is recorded with its error and left out of the means; `failed` counts them.
For relpose a failure is scored instead, with every pair failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recon3r.errors import ConfigError, Recon3rError
from recon3r.eval.benchmarks import TASKS, Benchmark, BenchmarkScene, check_benchmark
from recon3r.eval.methods import Method, Prediction, check_method
from recon3r.scene import ImageTransform

DEFAULT_DEPTH_ALIGN = {"depth": "median", "video_depth": "scale"}
DEPTH_ALIGN_MODES = ("none", "median", "scale", "scale&shift")
RELPOSE_THRESHOLDS = (5, 15, 30)


# --------------------------------------------------------------------------------------------
# Ground truth on a prediction grid


def grid_to_file_pixels(transform: ImageTransform) -> tuple[np.ndarray, np.ndarray]:
    """File-pixel coordinates (x, y), each (h, w) float64, of the centres of the network grid's pixels.

    Inverse of `ImageTransform`'s mapping network = (file + 0.5)·scale − 0.5 − crop_offset.
    """
    width, height = transform.network_size
    xs = (np.arange(width) + 0.5 + transform.crop_offset[0]) / transform.scale - 0.5
    ys = (np.arange(height) + 0.5 + transform.crop_offset[1]) / transform.scale - 0.5
    return np.meshgrid(xs, ys, indexing="xy")


def sample_on_grid(values: np.ndarray, transform: ImageTransform) -> np.ndarray:
    """Nearest-neighbour sample of a file-resolution map (H, W, ...) onto the network grid: (h, w, ...)."""
    values = np.asarray(values)
    if tuple(values.shape[:2][::-1]) != tuple(transform.original_size):
        raise ValueError(f"map of size {values.shape[1]}x{values.shape[0]} does not match the image size "
                         f"{transform.original_size[0]}x{transform.original_size[1]}")
    xs, ys = grid_to_file_pixels(transform)
    cols = np.clip(np.rint(xs), 0, values.shape[1] - 1).astype(np.int64)
    rows = np.clip(np.rint(ys), 0, values.shape[0] - 1).astype(np.int64)
    return values[rows, cols]


def gt_depth_on_grid(depth: np.ndarray, transform: ImageTransform) -> tuple[np.ndarray, np.ndarray]:
    """GT z-depth (H, W) at file resolution → (depth (h, w) float64, valid (h, w) bool) on the grid."""
    sampled = sample_on_grid(np.asarray(depth, dtype=np.float64), transform)
    valid = np.isfinite(sampled) & (sampled > 0)
    return np.where(valid, sampled, 0.0), valid


def gt_points_on_grid(depth: np.ndarray, intrinsics: np.ndarray, world_from_cam: np.ndarray,
                      transform: ImageTransform) -> tuple[np.ndarray, np.ndarray]:
    """GT world points (h, w, 3) and validity (h, w) of the grid's pixels.

    Each grid pixel centre is unprojected at its exact file-pixel position with the file-resolution
    K (3, 3) and the nearest GT depth, then moved to the world by the cam-to-world pose (4, 4).
    """
    z, valid = gt_depth_on_grid(depth, transform)
    xs, ys = grid_to_file_pixels(transform)
    rays = np.stack([xs, ys, np.ones_like(xs)], -1) @ np.linalg.inv(np.asarray(intrinsics, dtype=np.float64)).T
    cam = rays / rays[..., 2:3] * z[..., None]
    pose = np.asarray(world_from_cam, dtype=np.float64)
    return cam @ pose[:3, :3].T + pose[:3, 3], valid


# --------------------------------------------------------------------------------------------
# Per-scene scores


def _need(prediction: Prediction, what: str, task: str) -> Any:
    value = getattr(prediction, what)
    if value is None:
        raise ValueError(prediction.error or f"the method predicted no {what.replace('_', ' ')} for task {task!r}")
    return value


def score_relpose(prediction: Prediction, scene: BenchmarkScene) -> dict[str, float]:
    """`relpose_metrics` of the predicted poses against the GT (all pairs, failures included)."""
    from recon3r.eval.metrics import relpose_metrics

    poses = _need(prediction, "world_from_cam", "relpose")
    return relpose_metrics(poses, scene.world_from_cam, thresholds=RELPOSE_THRESHOLDS)


def mv_recon_inputs(prediction: Prediction, scene: BenchmarkScene, normals: str = "grid",
                    max_points: int | None = None) -> dict[str, np.ndarray]:
    """Corresponding predicted and GT points of every GT-valid pixel, flattened over the views.

    Returns `pred` (P, 3), `gt` (P, 3) and, with `normals="grid"`, `pred_normals`, `gt_normals`
    (P, 3) from each view's point map (`pointmap_normals`). With `max_points`, every k-th
    correspondence is kept, k = ceil(P / max_points) (deterministic, for speed).
    """
    from recon3r.eval.metrics import pointmap_normals

    points = _need(prediction, "points", "mv_recon")
    transforms = _need(prediction, "transforms", "mv_recon")
    out: dict[str, list] = {"pred": [], "gt": [], "pred_normals": [], "gt_normals": []}
    for v in range(len(scene)):
        gt, valid = gt_points_on_grid(scene.depths[v], scene.intrinsics[v], scene.world_from_cam[v], transforms[v])
        pred = np.asarray(points[v], dtype=np.float64)
        if pred.shape != gt.shape:
            raise ValueError(f"view {v}: predicted points {pred.shape} do not match the grid {gt.shape}")
        out["pred"].append(pred[valid])
        out["gt"].append(gt[valid])
        if normals == "grid":
            out["pred_normals"].append(np.asarray(pointmap_normals(pred))[valid])
            out["gt_normals"].append(np.asarray(pointmap_normals(gt))[valid])
    arrays = {k: np.concatenate(v) for k, v in out.items() if v}
    if max_points is not None and len(arrays["pred"]) > max_points:
        step = -(-len(arrays["pred"]) // int(max_points))
        arrays = {k: v[::step] for k, v in arrays.items()}
    return arrays


def score_mv_recon(prediction: Prediction, scene: BenchmarkScene, *, normals: str = "grid",
                   icp: bool = False, max_points: int | None = None) -> dict[str, float]:
    """`pointcloud_metrics` with `align="sim3"` on the inputs of `mv_recon_inputs`."""
    from recon3r.eval.metrics import pointcloud_metrics

    if normals not in ("grid", "pca"):
        raise ValueError(f"unknown normals {normals!r}; use 'grid' or 'pca'")
    data = mv_recon_inputs(prediction, scene, normals, max_points)
    return pointcloud_metrics(data["pred"], data["gt"], align="sim3", icp_refine=icp, normals="pca",
                              pred_normals=data.get("pred_normals"), gt_normals=data.get("gt_normals"))


def depth_pairs(prediction: Prediction, scene: BenchmarkScene, task: str = "depth"
                ) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(view, predicted depth, GT depth, valid) on the prediction grid for each view with GT depth."""
    depths = _need(prediction, "depths", task)
    transforms = _need(prediction, "transforms", task)
    out = []
    for v in range(len(scene)):
        if not scene.has_depth(v):
            continue
        gt, valid = gt_depth_on_grid(scene.depths[v], transforms[v])
        pred = np.asarray(depths[v], dtype=np.float64)
        if pred.shape != gt.shape:
            raise ValueError(f"view {v}: predicted depth {pred.shape} does not match the grid {gt.shape}")
        if not np.isfinite(pred[valid]).any():
            raise ValueError(f"view {v}: the predicted depth is not finite where the GT is known")
        out.append((v, pred, gt, valid))
    return out


def score_depth(prediction: Prediction, scene: BenchmarkScene, align: str = "median"
                ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Per-frame `depth_metrics`; returns (mean over the scene's frames, per-frame metrics)."""
    from recon3r.eval.metrics import depth_metrics

    frames = []
    for view, pred, gt, valid in depth_pairs(prediction, scene):
        metrics = depth_metrics(pred, gt, valid, align=align)
        frames.append({"view": float(view), **metrics})
    keys = [k for k in frames[0] if k not in ("view", "pixels")]
    summary = {k: float(np.mean([f[k] for f in frames])) for k in keys}
    summary["frames"] = float(len(frames))
    return summary, frames


def score_video_depth(prediction: Prediction, scene: BenchmarkScene, align: str = "scale") -> dict[str, float]:
    """`depth_metrics` of the whole sequence with one alignment (frames stacked to (F, H, W))."""
    from recon3r.eval.metrics import depth_metrics

    pairs = depth_pairs(prediction, scene, "video_depth")
    shapes = {p[1].shape for p in pairs}
    if len(shapes) == 1:
        pred, gt, valid = (np.stack([p[k] for p in pairs]) for k in (1, 2, 3))
    elif align == "median":
        raise ValueError("frames of different sizes cannot be stacked for per-frame median alignment")
    else:  # one alignment per sequence: pooling the pixels of all frames is the same fit
        pred, gt, valid = (np.concatenate([p[k].reshape(1, -1) for p in pairs], 1) for k in (1, 2, 3))
    metrics = depth_metrics(pred, gt, valid, align=align)
    if align != "scale&shift":
        shifted = depth_metrics(pred, gt, valid, align="scale&shift")
        metrics.update({f"{key}_ss": shifted[key] for key in ("abs_rel", "delta_1", "delta_2", "delta_3", "rmse")})
    metrics["frames"] = float(len(pairs))
    return metrics


def score_trajectory(prediction: Prediction, scene: BenchmarkScene) -> dict[str, float]:
    """`trajectory_metrics` (ATE, RPE trans/rot at Δ = 1) of the predicted camera path."""
    from recon3r.eval.metrics import trajectory_metrics

    poses = _need(prediction, "world_from_cam", "trajectory")
    if not np.isfinite(poses).all():
        raise ValueError(f"{int((~prediction.registered).sum())} of {len(poses)} frames have no pose")
    return trajectory_metrics(poses, scene.world_from_cam)


# --------------------------------------------------------------------------------------------
# Running and aggregating


@dataclass
class SceneResult:
    """One method on one scene: its metrics (None when it failed), time and error."""

    scene: str
    metrics: dict[str, float] | None
    seconds: float
    error: str | None = None
    frames: list[dict[str, float]] | None = None  # per-frame metrics (depth; per view for novel_view)
    info: dict[str, Any] = field(default_factory=dict)  # the prediction's own report (latency, memory, ...)


@dataclass
class MethodResult:
    method: str
    settings: dict[str, Any]
    scenes: list[SceneResult]
    aggregate: dict[str, float]


@dataclass
class EvalResult:
    """Everything `recon3r eval` reports: settings, per-scene and aggregate numbers per method."""

    task: str
    benchmark: dict[str, Any]
    options: dict[str, Any]
    methods: list[MethodResult]
    predictions: dict[tuple[str, str], Prediction] = field(default_factory=dict)  # (method, scene) → prediction


SUM_KEYS = ("registered", "images", "pairs", "frames", "views")


def aggregate(task: str, scenes: Sequence[SceneResult]) -> dict[str, float]:
    """Pool per-scene metrics (see the module docstring); adds `scenes`, `failed` and `seconds` (mean),
    and `ms_per_frame` / `peak_memory_mb` where the predictions reported them."""
    ok = [s for s in scenes if s.metrics is not None]
    out: dict[str, float] = {}
    if task == "depth":
        frames = [f for s in ok for f in (s.frames or [])]
        keys = [k for k in (frames[0] if frames else {}) if k not in ("view", "pixels")]
        out = {k: float(np.mean([f[k] for f in frames])) for k in keys}
        out["frames"] = float(len(frames))
    elif ok:
        pool = {"depth_to_3d": np.median, "novel_view": _nanmean}.get(task, np.mean)
        for key in ok[0].metrics:
            values = [s.metrics[key] for s in ok]
            out[key] = float(np.sum(values)) if key in SUM_KEYS else float(pool(values))
        if task == "novel_view":
            out["surfaces"] = float(sum(np.isfinite(s.metrics["chamfer"]) for s in ok))
    out["scenes"] = float(len(scenes))
    out["failed"] = float(len(scenes) - len(ok))
    out["seconds"] = float(np.mean([s.seconds for s in scenes])) if scenes else float("nan")
    latency = [t for s in scenes for t in s.info.get("ms_per_frame", [])]
    if latency:
        out["ms_per_frame"] = float(np.mean(latency))
    memory = [s.info["peak_memory_mb"] for s in scenes if "peak_memory_mb" in s.info]
    if memory:
        out["peak_memory_mb"] = float(np.max(memory))
    return out


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _score_depth_to_3d(prediction: Prediction, scene: Any) -> dict[str, float]:
    from recon3r.eval.depth_to_3d import score_recovery

    return score_recovery(prediction, scene)


def _score_novel_view(prediction: Prediction, scene: BenchmarkScene) -> tuple[dict[str, float], list[dict[str, float]]]:
    from recon3r.eval.novel_view import score_novel_view

    return score_novel_view(prediction, scene)


def score_scene(task: str, prediction: Prediction, scene: BenchmarkScene, *, depth_align: str | None = None,
                normals: str = "grid", icp: bool = False, max_points: int | None = None) -> SceneResult:
    """Score one prediction; a ValueError of the metrics (nothing valid to score) marks the scene failed."""
    align = depth_align or DEFAULT_DEPTH_ALIGN.get(task)
    scorers: dict[str, Callable[[], Any]] = {
        "relpose": lambda: score_relpose(prediction, scene),
        "mv_recon": lambda: score_mv_recon(prediction, scene, normals=normals, icp=icp, max_points=max_points),
        "depth": lambda: score_depth(prediction, scene, align),
        "video_depth": lambda: score_video_depth(prediction, scene, align),
        "trajectory": lambda: score_trajectory(prediction, scene),
        "novel_view": lambda: _score_novel_view(prediction, scene),
        "depth_to_3d": lambda: _score_depth_to_3d(prediction, scene),
    }
    if task not in scorers:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    info = _jsonable(prediction.info)
    try:
        scored = scorers[task]()
    except ValueError as err:
        return SceneResult(scene.name, None, prediction.seconds, error=prediction.error or str(err), info=info)
    metrics, frames = scored if isinstance(scored, tuple) else (scored, None)
    return SceneResult(scene.name, metrics, prediction.seconds, error=prediction.error, frames=frames, info=info)


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """The prediction's info with numpy scalars and arrays as plain numbers and lists."""
    def plain(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dict(info))


def evaluate(
    task: str,
    benchmark: Benchmark,
    methods: Sequence[Method],
    *,
    depth_align: str | None = None,
    normals: str = "grid",
    icp: bool = False,
    max_points: int | None = None,
    keep_predictions: bool = False,
    on_prediction: Callable[[Method, BenchmarkScene, Prediction], None] | None = None,
    progress: bool = True,
    focal_guess: str = "random",
    distortion_seed: int = 1,
) -> EvalResult:
    """Run every method on every scene of `benchmark` and score it on `task`.

    depth_align: alignment of depth and video_depth (`none`, `median`, `scale`, `scale&shift`);
        default `median` for depth and `scale` for video_depth. Scale-free GT rejects `none`.
    normals, icp, max_points: mv_recon normals (`grid` or `pca`), ICP refinement after the Sim(3)
        fit, and a cap on the points per scene (None: every GT-valid pixel).
    keep_predictions: keep every `Prediction` in `EvalResult.predictions`.
    on_prediction: called with (method, scene, prediction) as each prediction is made.
    focal_guess, distortion_seed: depth_to_3d: the focal guess the methods are given (`random`
        or `fov60`) and the seed of the distortions (`recon3r.eval.depth_to_3d.make_trials`).
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    check_benchmark(benchmark, task)
    for method in methods:
        check_method(method, task)
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ConfigError(f"methods must have distinct names, got {names}")
    align = None
    if task in DEFAULT_DEPTH_ALIGN:
        align = depth_align or DEFAULT_DEPTH_ALIGN[task]
        if align not in DEPTH_ALIGN_MODES:
            raise ConfigError(f"unknown depth alignment {align!r}; expected one of {', '.join(DEPTH_ALIGN_MODES)}")
        if align == "none" and any(s.depth_scale_free for s in benchmark.scenes):
            raise ConfigError(f"benchmark {benchmark.spec!r} has depth only up to scale; use a depth alignment "
                              "other than 'none'")
    options: dict[str, Any] = {"depth_align": align} if align else {}
    if task == "mv_recon":
        options.update(align="sim3 (Umeyama on corresponding pixels)", icp=icp, normals=normals,
                       max_points=max_points)
    if task == "video_depth" and align != "scale&shift":
        options["also"] = "scale&shift per sequence (keys *_ss)"
    if task == "relpose":
        options.update(thresholds=list(RELPOSE_THRESHOLDS), pairs="all i<j; unregistered images fail their pairs")
    scenes = list(benchmark.scenes)
    if task == "depth_to_3d":
        from recon3r.eval.depth_to_3d import make_trials

        scenes = make_trials(scenes, distortion_seed, focal_guess)
        options.update(focal_guess=focal_guess, distortion_seed=distortion_seed, aggregate="median over maps")
    if task == "novel_view":
        options.update(input_view=0, scored_views="1 … V−1", background="white")

    from recon3r.utils.progress import progress as progress_bar

    result = EvalResult(
        task=task,
        benchmark={"name": benchmark.name, "spec": benchmark.spec, "description": benchmark.description,
                   "scenes": [s.name for s in benchmark.scenes], **benchmark.meta},
        options=options, methods=[],
    )
    for method in methods:
        method.begin(task)
        scene_results = []
        for scene in progress_bar(scenes, desc=f"{task}: {method.name}", total=len(scenes), enabled=progress):
            start = time.perf_counter()
            try:
                prediction = method.predict(scene)
            except Recon3rError as err:  # a method's own failure on this scene, not a bug
                from recon3r.eval.methods import failed_prediction

                count = len(scene) if hasattr(scene, "__len__") else 1
                prediction = failed_prediction(count, str(err), time.perf_counter() - start)
            if on_prediction is not None:
                on_prediction(method, scene, prediction)
            if keep_predictions:
                result.predictions[(method.name, scene.name)] = prediction
            scene_results.append(score_scene(task, prediction, scene, depth_align=align, normals=normals, icp=icp,
                                             max_points=max_points))
        result.methods.append(MethodResult(method.name, method.describe(), scene_results,
                                           aggregate(task, scene_results)))
    return result
