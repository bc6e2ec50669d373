"""Methods that `recon3r eval` compares: each turns a scene's images into poses, depths and points.

- a learned pair model (a checkpoint path, or `example` for the shipped example model): the
  reconstruct pipeline, pairs → inference → global alignment, with no known camera;
- `colmap`: pycolmap incremental SfM (`recon3r.eval.colmap_baseline.run_colmap`), poses only;
  images it does not register get NaN poses, which the relative-pose metrics count as failures;
- `constant-plane`: every image sees a fronto-parallel plane at depth 1 through a 60° camera at the
  origin, a floor for the depth and point-cloud tasks.

Predictions come in the method's own world frame and unit; the tasks align them to the GT as each
metric prescribes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recon3r.errors import ConfigError, Recon3rError
from recon3r.scene import ImageTransform

if TYPE_CHECKING:
    import torch

    from recon3r.eval.benchmarks import BenchmarkScene

BUILTIN_METHODS = ("example", "colmap", "constant-plane")


@dataclass
class Prediction:
    """What a method predicted for the N images of one scene.

    world_from_cam: (N, 4, 4) float64 cam-to-world poses (OpenCV axes) in the method's frame and
        unit, NaN for images the method did not register; None if it predicts no poses.
    depths: per image (H_i, W_i) z-depth on the method's grid; None if it predicts no depth.
    points: per image (H_i, W_i, 3) world points (same frame as the poses); None if none.
    transforms: per image, how the grid was cut from the image file (`ImageTransform`).
    error: why the method failed on this scene (its poses are then all NaN), else None.
    """

    world_from_cam: np.ndarray | None
    depths: list[np.ndarray] | None = None
    points: list[np.ndarray] | None = None
    transforms: list[ImageTransform] | None = None
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
    """A named way of predicting; `tasks` lists the tasks its predictions can be scored on."""

    name: str = "method"
    tasks: tuple[str, ...] = ()

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

    def __init__(self, weights: str | Path | None = None, *, model: torch.nn.Module | None = None,
                 name: str | None = None, size: int | None = None, niter: int = 300, lr: float = 0.01,
                 schedule: str = "cosine", graph: str = "complete", batch_size: int = 8,
                 device: str = "auto", dtype: str | None = None, align_mode: str = "auto"):
        if weights is None and model is None:
            raise ValueError("LearnedMethod needs weights or a model")
        self.weights = Path(weights) if weights is not None else None
        self.model = model
        self.name = name or (self.weights.name if self.weights is not None else type(model).__name__)
        self.size, self.niter, self.lr, self.schedule = size, int(niter), float(lr), schedule
        self.graph, self.batch_size, self.device = graph, int(batch_size), device
        self.dtype, self.align_mode = dtype, align_mode

    def load(self) -> torch.nn.Module:
        if self.model is None:
            from recon3r import load_model

            self.model = load_model(self.weights, device=self.device, task="pair", dtype=self.dtype)
        return self.model

    def predict(self, scene: BenchmarkScene) -> Prediction:
        from recon3r.reconstruct import ReconstructConfig, reconstruct

        model = self.load()
        config = ReconstructConfig(
            images=[str(p) for p in scene.image_paths], size=self.size, graph=self.graph,
            batch_size=self.batch_size, niter=self.niter, lr=self.lr, schedule=self.schedule,
            device=self.device, formats=(), progress=False, dtype=self.dtype, align_mode=self.align_mode,
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
        return {"name": self.name, "type": "learned", "weights": str(self.weights) if self.weights else None,
                "size": self.size, "niter": self.niter, "lr": self.lr, "schedule": self.schedule,
                "graph": self.graph, "device": self.device, "dtype": self.dtype or "float32",
                "align_mode": self.align_mode}


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


def resolve_method(spec: str, *, size: int | None = None, niter: int = 300, device: str = "auto",
                   graph: str = "complete", colmap_threads: int = 1, seed: int = 0, dtype: str | None = None,
                   align_mode: str = "auto") -> Method:
    """A method from its command-line name: `example`, `colmap`, `constant-plane` or a checkpoint path.

    Raises ConfigError naming the value when it is none of these, or when `example` is asked for
    before the example model is installed.
    """
    text = str(spec).strip()
    if text == "colmap":
        return ColmapMethod(num_threads=colmap_threads, seed=seed)
    if text == "constant-plane":
        return ConstantPlaneMethod()
    learned = dict(size=size, niter=niter, device=device, graph=graph, dtype=dtype, align_mode=align_mode)
    if text == "example":
        from recon3r.assets import example_model_path

        path = example_model_path()
        if not (path / "model.safetensors").is_file():
            raise ConfigError(f"method 'example': the example model is not installed ({path / 'model.safetensors'} "
                              "is missing); pass a checkpoint path instead")
        return LearnedMethod(path, name="example", **learned)
    path = Path(text).expanduser()
    if (path.is_dir() and (path / "model.safetensors").is_file()) or path.is_file():
        return LearnedMethod(path, **learned)
    if path.is_dir():
        raise ConfigError(f"method {text!r}: folder has no model.safetensors (a checkpoint folder holds "
                          "model.safetensors + config.json)")
    raise ConfigError(f"unknown method {text!r}: expected a checkpoint path (a folder with model.safetensors + "
                      f"config.json, or an official .pth), or one of {', '.join(BUILTIN_METHODS)}")


def check_method(method: Method, task: str) -> None:
    """Raise ConfigError when `method`'s predictions cannot be scored on `task`."""
    if task not in method.tasks:
        raise ConfigError(f"method {method.name!r} cannot be evaluated on task {task!r}; "
                          f"it supports {', '.join(method.tasks)}")
