"""Methods that `recon3r eval` compares: each turns a scene into predictions (poses, depths, points, renders).

A checkpoint is run by the method of its system, read from the model class's `task_name`
(`SYSTEM_METHODS`, the one place this is decided):
- "pair" (DUSt3R-style, multimodal): `LearnedMethod`, the reconstruct pipeline, pairs → inference →
  global alignment, with no known camera;
- "stream" (Point3R): `StreamMethod`, frames fed in order through `reconstruct_stream`, predictions
  straight from the stream (no global alignment); for `depth` each frame alone;
- "single_image" (LRM): `recon3r.eval.novel_view.NovelViewMethod`, view 0 in, the other views rendered;
- "depth_to_3d": `recon3r.eval.depth_to_3d.Depth3DMethod`, shift and focal recovered from a distorted map.
Built-in names: `example` (the shipped pair model), `depth3d` (the shipped depth-to-3D model), and
the baselines of `BASELINES`:
- `colmap`: pycolmap incremental SfM (`recon3r.eval.colmap_baseline.run_colmap`), poses only;
  images it does not register get NaN poses, which the relative-pose metrics count as failures;
- `constant-plane`: every image sees a fronto-parallel plane at depth 1 through a 60° camera at the
  origin, a floor for the depth and point-cloud tasks;
- `constant-velocity`: identity rotations, the camera moving forward one unit per frame, a floor
  for trajectories;
- `mean-colour` (novel_view), `no-correction` and `fov-60` (depth_to_3d): see their modules.

Predictions come in the method's own world frame and unit; the tasks align them to the GT as each
metric prescribes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recon3r.errors import CheckpointError, ConfigError, Recon3rError
from recon3r.scene import ImageTransform

if TYPE_CHECKING:
    import torch

    from recon3r.eval.benchmarks import BenchmarkScene

#: The method that runs a checkpoint, by its model class's `task_name`: "module:class".
SYSTEM_METHODS: dict[str, str] = {
    "pair": "recon3r.eval.methods:LearnedMethod",
    "stream": "recon3r.eval.methods:StreamMethod",
    "single_image": "recon3r.eval.novel_view:NovelViewMethod",
    "depth_to_3d": "recon3r.eval.depth_to_3d:Depth3DMethod",
}
#: Trivial baselines by name: "module:class".
BASELINES: dict[str, str] = {
    "colmap": "recon3r.eval.methods:ColmapMethod",
    "constant-plane": "recon3r.eval.methods:ConstantPlaneMethod",
    "constant-velocity": "recon3r.eval.methods:ConstantVelocityMethod",
    "mean-colour": "recon3r.eval.novel_view:MeanColourMethod",
    "no-correction": "recon3r.eval.depth_to_3d:NoCorrectionMethod",
    "fov-60": "recon3r.eval.depth_to_3d:FovGuessMethod",
}
#: The baseline rows `recon3r eval` adds to each task's table (unless --no-baselines).
TASK_BASELINES: dict[str, tuple[str, ...]] = {
    "relpose": ("colmap",),
    "trajectory": ("constant-velocity",),
    "depth": ("constant-plane",),
    "video_depth": ("constant-plane",),
    "mv_recon": ("constant-plane",),
    "novel_view": ("mean-colour",),
    "depth_to_3d": ("no-correction", "fov-60"),
}
BUILTIN_METHODS = ("example", "depth3d", *BASELINES)


@dataclass
class MethodSettings:
    """How learned methods run; each system uses the fields that apply. Also the source of these
    `recon3r eval` flags (`recon3r.eval.run.EvalConfig` extends it; `recon3r.utils.config_cli`).

    size: pair models 224 / 512 (None: the model's training size); streaming models any long
        side ≥ 16 (None: the training size). niter, graph: pair global alignment. max_pointers:
        streaming memory cap (None: `recon3r.stream.DEFAULT_MAX_POINTERS`; 0: unbounded).
        mesh_size: single-image marching-cubes grid for Chamfer. colmap_threads: COLMAP; seed: COLMAP's
        and the single-image renderer's sampling seed. dtype: transformer-block precision of pair and
        streaming models (`recon3r.models.precision`); head_dtype: their DPT heads' convolutions;
        align_mode: pair global alignment mode.
        captions: a captions JSON file (image file name → caption) for multimodal pair models, as
        `recon3r reconstruct --captions` reads it; other models ignore it.
    """

    size: int | None = field(default=None, metadata={
        "help": "network size of learned methods (default: the model's training size): 224 or 512 for pair models, "
        "any long side >= 16 for streaming models; also the default render size of procedural sets (else 224)"})
    niter: int = field(default=300, metadata={"help": "global alignment iterations"})
    device: str = field(default="auto", metadata={
        "help": "cpu, cuda, ..., or auto (the accelerator if present)"})
    graph: str = field(default="complete", metadata={"help": "pair graph of learned methods"})
    max_pointers: int | None = field(default=None, metadata={
        "help": "streaming models: pointer-memory cap (default: recon3r stream's, 8192; 0: unbounded)"})
    mesh_size: int = field(default=128, metadata={
        "help": "novel_view: marching-cubes grid of single-image models for the Chamfer distance"})
    colmap_threads: int = field(default=1, metadata={"help": "COLMAP threads (1: reproducible)"})
    seed: int = field(default=0, metadata={
        "help": "COLMAP random seed, and the render sampling seed of single-image models"})
    dtype: str | None = field(default="float32", metadata={
        "choices": ("float32", "bfloat16", "float16"),
        "help": "precision of learned methods' transformer blocks (bfloat16: about twice as fast on CPUs with bf16 "
        "support; float16 needs an accelerator)"})
    head_dtype: str | None = field(default="float32", metadata={
        "choices": ("float32", "bfloat16", "float16"),
        "help": "precision of learned methods' DPT-head convolutions (output layer always float32; bfloat16: faster "
        "ViT-L DPT pairs on CPU for a little more rounding error)"})
    align_mode: str = field(default="auto", metadata={
        "choices": ("auto", "optimize", "fast", "pair"),
        "help": "global alignment of learned methods: optimize (dense), fast (subsample, second order), pair, or "
        "auto (fast on the CPU from 12 images)"})
    captions: str | None = field(default=None, metadata={
        "metavar": "JSON",
        "help": "learned pair methods: a JSON object mapping image file names to captions, as for `recon3r "
        "reconstruct --captions` (multimodal models read them; others ignore them)"})


@dataclass
class Prediction:
    """What a method predicted for the N images of one scene.

    world_from_cam: (N, 4, 4) float64 cam-to-world poses (OpenCV axes) in the method's frame and
        unit, NaN for images the method did not register; None if it predicts no poses.
    depths: per image (H_i, W_i) z-depth on the method's grid; None if it predicts no depth.
    points: per image (H_i, W_i, 3) world points (same frame as the poses); None if none.
    transforms: per image, how the grid was cut from the image file (`ImageTransform`).
    renders: novel_view, per image (H, W, 3) float RGB in [0, 1] rendered at the image's camera,
        None for the input view; render_masks the same views' (H, W) bool object masks.
    surface: novel_view, (P, 3) predicted surface points in the benchmark's world frame, or None.
    error: why the method failed on this scene (its poses are then all NaN), else None.
    info: what else the method reports per scene (JSON-able: latency per frame, peak memory, ...).
    """

    world_from_cam: np.ndarray | None
    depths: list[np.ndarray] | None = None
    points: list[np.ndarray] | None = None
    transforms: list[ImageTransform] | None = None
    renders: list[np.ndarray | None] | None = None
    render_masks: list[np.ndarray | None] | None = None
    surface: np.ndarray | None = None
    seconds: float = 0.0
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def registered(self) -> np.ndarray:
        """(N,) bool: images with a finite pose."""
        if self.world_from_cam is None:
            raise ValueError("this prediction has no poses")
        return np.isfinite(self.world_from_cam).reshape(len(self.world_from_cam), -1).all(-1)


class Method:
    """A named way of predicting; `tasks` lists the tasks its predictions can be scored on.

    `system`: the `task_name` of the checkpoints it runs ("pair", "stream", ...), None for baselines;
    `model_class`: the class of the checkpoint it was made for, when it was made from one.
    """

    name: str = "method"
    tasks: tuple[str, ...] = ()
    system: str | None = None
    model_class: str | None = None

    def begin(self, task: str) -> None:
        """Called by `evaluate` before the scenes of `task` (a method may predict differently per task)."""

    def predict(self, scene: BenchmarkScene) -> Prediction:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Settings recorded in the JSON report."""
        return {"name": self.name}


def failed_prediction(count: int, error: str, seconds: float = 0.0) -> Prediction:
    """All-NaN poses for a method that failed on a scene: every pair counts as a failure."""
    return Prediction(world_from_cam=np.full((count, 4, 4), np.nan), seconds=seconds, error=error)


class LearnedMethod(Method):
    """A pair model run through `recon3r.reconstruct` (global alignment, no known cameras).

    Either `weights` (a checkpoint `load_model` reads, loaded on first use) or an already built
    `model` (any module with the DUSt3R pair interface). `size` None uses the model's training size.
    """

    tasks = ("relpose", "mv_recon", "depth", "video_depth", "trajectory")
    system = "pair"

    def __init__(self, weights: str | Path | None = None, *, model: torch.nn.Module | None = None,
                 name: str | None = None, size: int | None = None, niter: int = 300, lr: float = 0.01,
                 schedule: str = "cosine", graph: str = "complete", batch_size: int = 8,
                 device: str = "auto", dtype: str | None = None, align_mode: str = "auto",
                 captions: str | Path | None = None, head_dtype: str | None = None):
        if weights is None and model is None:
            raise ValueError("LearnedMethod needs weights or a model")
        if size not in (None, 224, 512):
            raise ConfigError(f"--size must be 224 or 512 for a pair model, got {size}")
        self.weights = Path(weights) if weights is not None else None
        self.model = model
        self.name = name or (self.weights.name if self.weights is not None else type(model).__name__)
        self.size, self.niter, self.lr, self.schedule = size, int(niter), float(lr), schedule
        self.graph, self.batch_size, self.device = graph, int(batch_size), device
        self.dtype, self.head_dtype, self.align_mode = dtype, head_dtype, align_mode
        self.captions = None if captions is None else str(captions)

    @classmethod
    def from_checkpoint(cls, path: str | Path, settings: MethodSettings, *, model: torch.nn.Module | None = None,
                        name: str | None = None) -> LearnedMethod:
        return cls(path, model=model, name=name, size=settings.size, niter=settings.niter, device=settings.device,
                   graph=settings.graph, dtype=settings.dtype, align_mode=settings.align_mode,
                   captions=settings.captions, head_dtype=settings.head_dtype)

    def load(self) -> torch.nn.Module:
        if self.model is None:
            from recon3r import load_model

            self.model = load_model(self.weights, device=self.device, task="pair", dtype=self.dtype,
                                    head_dtype=self.head_dtype)
        return self.model

    def predict(self, scene: BenchmarkScene) -> Prediction:
        from recon3r.reconstruct import ReconstructConfig, reconstruct

        model = self.load()
        config = ReconstructConfig(
            images=[str(p) for p in scene.image_paths], size=self.size, graph=self.graph,
            batch_size=self.batch_size, niter=self.niter, lr=self.lr, schedule=self.schedule,
            device=self.device, formats=(), progress=False, dtype=self.dtype, align_mode=self.align_mode,
            captions=self.captions, head_dtype=self.head_dtype,
        )
        start = time.perf_counter()
        try:
            result = reconstruct(config, model=model)
        except Recon3rError as err:
            return failed_prediction(len(scene), str(err), time.perf_counter() - start)
        out = result.scene
        return Prediction(
            world_from_cam=np.asarray(out.world_from_cam, dtype=np.float64),
            depths=[np.asarray(d) for d in out.depths],
            points=[np.asarray(p) for p in out.points],
            transforms=list(out.transforms) if out.transforms is not None else None,
            seconds=time.perf_counter() - start,
            info={"image_size": result.summary.get("image_size"), "pairs": result.summary.get("pairs")},
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "learned", "system": self.system,
                "weights": str(self.weights) if self.weights else None,
                "size": self.size, "niter": self.niter, "lr": self.lr, "schedule": self.schedule,
                "graph": self.graph, "device": self.device, "dtype": self.dtype or "float32",
                "head_dtype": self.head_dtype or "float32", "align_mode": self.align_mode, "captions": self.captions}


class StreamMethod(Method):
    """A streaming model (Point3R) fed the scene's images in order, one frame at a time.

    Predictions come straight from the stream (`recon3r.stream.reconstruct.reconstruct_stream`), no
    global alignment: world points `pts3d_in_other_view` (frame 0's camera frame), depths the z of
    each frame's self-view points, poses from the pose head. For task `depth` each frame is a
    stream of its own (monocular depth). `info` holds the model time per frame (ms) and the peak
    memory of the scene (`recon3r.utils.memory.PeakMemory`: accelerator peak allocated, else the
    process's peak resident set).
    """

    tasks = ("relpose", "trajectory", "video_depth", "depth", "mv_recon")
    system = "stream"

    def __init__(self, weights: str | Path | None = None, *, model: torch.nn.Module | None = None,
                 name: str | None = None, size: int | None = None, device: str = "auto",
                 max_pointers: int | None = None, dtype: str | None = None, head_dtype: str | None = None):
        if weights is None and model is None:
            raise ValueError("StreamMethod needs weights or a model")
        if size is not None:
            from recon3r.io.images import check_size

            check_size(size)
        if max_pointers is not None and max_pointers < 0:
            raise ConfigError(f"--max-pointers must be >= 0 (0: unbounded), got {max_pointers}")
        self.weights = Path(weights) if weights is not None else None
        self.model, self.size, self.device, self.max_pointers = model, size, device, max_pointers
        self.name = name or (self.weights.name if self.weights is not None else type(model).__name__)
        self.frames_alone = False
        self.dtype, self.head_dtype = dtype, head_dtype

    @classmethod
    def from_checkpoint(cls, path: str | Path, settings: MethodSettings, *, model: torch.nn.Module | None = None,
                        name: str | None = None) -> StreamMethod:
        return cls(path, model=model, name=name, size=settings.size, device=settings.device,
                   max_pointers=settings.max_pointers, dtype=settings.dtype, head_dtype=settings.head_dtype)

    def load(self) -> torch.nn.Module:
        if self.model is None:
            from recon3r.models.checkpoint import load_model

            self.model = load_model(self.weights, device=self.device, task="stream", dtype=self.dtype,
                                    head_dtype=self.head_dtype)
        return self.model

    def begin(self, task: str) -> None:
        self.frames_alone = task == "depth"

    def _cap(self) -> int | None:
        from recon3r.stream.reconstruct import DEFAULT_MAX_POINTERS

        return DEFAULT_MAX_POINTERS if self.max_pointers is None else (self.max_pointers or None)

    def predict(self, scene: BenchmarkScene) -> Prediction:
        from recon3r.stream.reconstruct import reconstruct_stream
        from recon3r.utils.device import module_device
        from recon3r.utils.memory import PeakMemory

        model = self.load()
        streams = [[p] for p in scene.image_paths] if self.frames_alone else [list(scene.image_paths)]
        start = time.perf_counter()
        with PeakMemory(module_device(model)) as peak:
            results = [reconstruct_stream([str(p) for p in frames], model, size=self.size, max_pointers=self._cap())
                       for frames in streams]
        seconds = time.perf_counter() - start
        per_frame = [1000 * float(t) for r in results for t in r.seconds_per_frame]
        info = {"ms_per_frame": per_frame, "peak_memory_mb": peak.megabytes, "memory_measure": peak.measure,
                "pointers_after_last_frame": [int(r.pointer_counts[-1]) for r in results],
                "fed": "each frame alone" if self.frames_alone else "in order, one stream"}
        depths = [d for r in results for d in r.depths]
        points = [p for r in results for p in r.points]
        transforms = [t for r in results for t in r.transforms]
        poses = None if self.frames_alone else np.asarray(results[0].world_from_cam, dtype=np.float64)
        return Prediction(world_from_cam=poses, depths=depths, points=points, transforms=transforms, seconds=seconds,
                          info=info)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "learned", "system": self.system,
                "weights": str(self.weights) if self.weights else None, "size": self.size, "device": self.device,
                "max_pointers": self._cap(), "global_alignment": False, "dtype": self.dtype or "float32",
                "head_dtype": self.head_dtype or "float32"}


class ColmapMethod(Method):
    """pycolmap SfM with COLMAP's defaults (unknown intrinsics); poses only.

    A scene on which COLMAP raises (e.g. no features) gets all-NaN poses: failures, not omissions.
    """

    name = "colmap"
    tasks = ("relpose",)

    def __init__(self, *, num_threads: int = 1, seed: int = 0, max_num_features: int = 8192):
        self.num_threads, self.seed, self.max_num_features = num_threads, seed, max_num_features

    def predict(self, scene: BenchmarkScene) -> Prediction:
        from recon3r.eval.colmap_baseline import run_colmap

        start = time.perf_counter()
        try:
            result = run_colmap(scene.image_paths, num_threads=self.num_threads, seed=self.seed,
                                max_num_features=self.max_num_features)
        except (Recon3rError, RuntimeError, ValueError) as err:
            return failed_prediction(len(scene), f"COLMAP failed: {err}", time.perf_counter() - start)
        return Prediction(world_from_cam=result.world_from_cam, seconds=result.seconds,
                          info={"models": result.num_models, "points3D": result.num_points})

    def describe(self) -> dict[str, Any]:
        import pycolmap

        return {"name": self.name, "type": "classical", "intrinsics": "unknown (COLMAP defaults)",
                "num_threads": self.num_threads, "seed": self.seed, "max_num_features": self.max_num_features,
                "pycolmap": pycolmap.__version__}


class ConstantPlaneMethod(Method):
    """Depth 1 at every pixel of every image, a `fov_degrees` pinhole camera, identity poses.

    Works at the resolution of the image files. A floor for depth and point clouds; it has no
    relative pose (every baseline is zero), so it does not take part in relpose or trajectory.
    """

    name = "constant-plane"
    tasks = ("depth", "video_depth", "mv_recon")

    def __init__(self, fov_degrees: float = 60.0):
        self.fov_degrees = float(fov_degrees)

    def predict(self, scene: BenchmarkScene) -> Prediction:
        from PIL import Image

        start = time.perf_counter()
        depths, points, transforms = [], [], []
        for path in scene.image_paths:
            with Image.open(path) as image:
                width, height = image.size
            focal = 0.5 * width / math.tan(math.radians(self.fov_degrees) / 2)
            xs, ys = np.meshgrid(np.arange(width), np.arange(height))
            depth = np.ones((height, width))
            points.append(np.stack([(xs - (width - 1) / 2) / focal, (ys - (height - 1) / 2) / focal, depth], -1))
            depths.append(depth)
            transforms.append(ImageTransform((width, height), 1.0, (0.0, 0.0), (width, height)))
        poses = np.repeat(np.eye(4)[None], len(scene), axis=0)
        return Prediction(world_from_cam=poses, depths=depths, points=points, transforms=transforms,
                          seconds=time.perf_counter() - start)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "baseline", "fov_degrees": self.fov_degrees}


class ConstantVelocityMethod(Method):
    """Identity rotations and the camera moving forward (+z) `step` units per frame: a trajectory floor.

    After the Sim(3) alignment of the trajectory metrics, its ATE is how far the GT path is from a
    straight line travelled at constant speed.
    """

    name = "constant-velocity"
    tasks = ("trajectory",)

    def __init__(self, step: float = 1.0):
        self.step = float(step)

    def predict(self, scene: BenchmarkScene) -> Prediction:
        poses = np.repeat(np.eye(4)[None], len(scene), axis=0)
        poses[:, 2, 3] = self.step * np.arange(len(scene))
        return Prediction(world_from_cam=poses)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "baseline", "motion": "identity rotation, +z at constant speed"}


def _import(target: str) -> type[Method]:
    import importlib

    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


def checkpoint_system(path: Path) -> tuple[str, str | None, torch.nn.Module | None]:
    """(model class, its `task_name`, the built model or None) of a checkpoint.

    A model.safetensors + config.json folder is identified from config.json alone, without
    reading the weights or building the model; an official `.pth` names its model only inside the
    pickle, so it is read once and built here (the model is returned so it is not read twice).
    """
    from recon3r.models.checkpoint import CONFIG_NAME, read_checkpoint, read_config
    from recon3r.models.registry import get_model_class

    config = path / CONFIG_NAME if path.is_dir() else path.parent / CONFIG_NAME
    model = None
    if path.is_dir() or path.suffix == ".safetensors" or path.name == CONFIG_NAME:
        import json

        try:
            name, _ = read_config(json.loads(config.read_text()), str(config))
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no {CONFIG_NAME} beside the weights") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{config}: not valid JSON ({err})") from None
    else:
        from recon3r.models.checkpoint import build_loaded_model

        name, kwargs, state_dict, source = read_checkpoint(path)
        model = build_loaded_model(name, kwargs, state_dict, source).eval()
    try:
        task_name = getattr(get_model_class(name), "task_name", None)
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}") from None
    return name, task_name, model


def method_for_checkpoint(path: str | Path, settings: MethodSettings | None = None, *,
                          name: str | None = None) -> Method:
    """The method of the checkpoint's system (`SYSTEM_METHODS`); CheckpointError when it has none."""
    path = Path(path)
    settings = settings or MethodSettings()
    model_class, system, model = checkpoint_system(path)
    if system not in SYSTEM_METHODS:
        raise CheckpointError(f"{path} holds a {model_class} model, whose system ({system}) `recon3r eval` cannot run")
    method = _import(SYSTEM_METHODS[system]).from_checkpoint(path, settings, model=model, name=name)
    if model is not None:
        from recon3r.utils.device import resolve_device

        model = model.to(resolve_device(getattr(method, "device", "cpu")))
        dtype, head_dtype = getattr(method, "dtype", None), getattr(method, "head_dtype", None)
        if dtype not in (None, "float32") or head_dtype not in (None, "float32"):  # an official .pth is built here
            from recon3r.models.precision import set_inference_dtype

            model = set_inference_dtype(model, dtype, head_dtype=head_dtype)
        method.model = model
    method.model_class = model_class
    return method


def default_baselines(task: str) -> list[Method]:
    """The trivial baseline rows of `task`'s table (`TASK_BASELINES`); COLMAP only where pycolmap is installed."""
    out = []
    for name in TASK_BASELINES.get(task, ()):
        if name == "colmap":
            try:
                import pycolmap  # noqa: F401
            except ImportError:
                continue
        out.append(_import(BASELINES[name])())
    return out


def resolve_method(spec: str, settings: MethodSettings | None = None, **overrides: Any) -> Method:
    """A method from its command-line name: a built-in (`BUILTIN_METHODS`) or a checkpoint path.

    `settings` (or keyword overrides of its fields) say how learned methods run. Raises
    ConfigError naming the value when it is none of these, or when `example` / `depth3d` is asked
    for before that model is installed; CheckpointError for an unreadable checkpoint.
    """
    settings = replace(settings or MethodSettings(), **overrides)
    text = str(spec).strip()
    if text in BASELINES:
        if text == "colmap":
            return ColmapMethod(num_threads=settings.colmap_threads, seed=settings.seed)
        return _import(BASELINES[text])()
    if text in ("example", "depth3d"):
        from recon3r.assets import depth3d_model_path, example_model_path

        path = example_model_path() if text == "example" else depth3d_model_path()
        what = "example model" if text == "example" else "depth-to-3D model"
        if not (path / "model.safetensors").is_file():
            raise ConfigError(f"method {text!r}: the {what} is not installed ({path / 'model.safetensors'} "
                              "is missing); pass a checkpoint path instead")
        return method_for_checkpoint(path, settings, name=text)
    path = Path(text).expanduser()
    if path.is_file() or (path.is_dir() and any((path / f).is_file() for f in ("model.safetensors", "config.json"))):
        return method_for_checkpoint(path, settings)
    if path.is_dir():
        raise ConfigError(f"method {text!r}: folder has no model.safetensors (a checkpoint folder holds "
                          "model.safetensors + config.json)")
    raise ConfigError(f"unknown method {text!r}: expected a checkpoint path (a folder with model.safetensors + "
                      f"config.json, or an official .pth), or one of {', '.join(BUILTIN_METHODS)}")


def check_method(method: Method, task: str) -> None:
    """Raise ConfigError naming the method (its checkpoint's model and system) and `task` when
    `method`'s predictions cannot be scored on `task`."""
    if task in method.tasks:
        return
    if method.model_class is not None:
        from recon3r.models.registry import TASK_COMMANDS

        system = TASK_COMMANDS.get(method.system, (method.system,))[0]
        raise ConfigError(f"method {method.name!r} ({method.model_class}, a {system} model) cannot be evaluated on "
                          f"task {task!r}; {system} models do: {', '.join(method.tasks)}")
    raise ConfigError(f"method {method.name!r} cannot be evaluated on task {task!r}; "
                      f"it supports {', '.join(method.tasks)}")
