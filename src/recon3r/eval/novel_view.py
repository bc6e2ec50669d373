"""The novel_view task: one input image of a rendered object, the other renders predicted and compared.

A scene is one object (`BenchmarkScene` with kind "object"): V renders with their cameras (OpenCV
cam-to-world, pixel intrinsics), object masks (alpha) and, where the set carries them, GT surface
points. The method is given view 0 composited on white; it predicts views 1 … V−1 at their cameras.
Per view: PSNR and SSIM of the RGB (on white, in [0, 1]) and the IoU of the predicted object mask
with the GT one; per object, the Chamfer distance (`chamfer_distance`: the mean of accuracy and completeness, no
alignment, the benchmark's unit) of the predicted surface to the GT points, and the time per
object. Aggregates: means over views within an object, then over objects (Chamfer over the objects
that have both a predicted surface and GT points; `surfaces` counts them).
LPIPS is not reported: no package computes it offline with shipped weights (lpips needs
torchvision's downloaded backbones).

Methods: `NovelViewMethod` (a single-image `ModelLRM` checkpoint) and the `MeanColourMethod` baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from recon3r.eval.methods import Method, MethodSettings, Prediction

if TYPE_CHECKING:
    from recon3r.eval.benchmarks import BenchmarkScene

#: Surface points kept per object for the Chamfer distance (every k-th, deterministic).
MAX_SURFACE_POINTS = 20000


def load_object_view(path: str | Path) -> np.ndarray:
    """A render (RGBA) → (H, W, 3) float RGB in [0, 1] composited on white (OpenLRM's input and renders)."""
    from recon3r.io.images import read_rgb

    return np.asarray(read_rgb(path, alpha_background=(255, 255, 255)), dtype=np.float64) / 255.0


def normalized_pinhole(intrinsics: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel K (pixel centres at integer coordinates) → OpenLRM's K normalised by the image size
    (pixel centres at (j + 0.5) / width): fx/W, fy/H, (cx + 0.5)/W, (cy + 0.5)/H."""
    k = np.asarray(intrinsics, dtype=np.float64).copy()
    k[0, 0], k[0, 2] = k[0, 0] / width, (k[0, 2] + 0.5) / width
    k[1, 1], k[1, 2] = k[1, 1] / height, (k[1, 2] + 0.5) / height
    k[0, 1] /= width
    return k


@dataclass
class ObjectCameras:
    """An object's cameras in the model frame (OpenLRM's convention; see `object_cameras`).

    motion: (4, 4) float64 rigid map from the benchmark's world to the model frame; source: (1, 16)
    source camera vector of view 0; render: (V, 25) render camera vectors of every view; sizes:
    per view (width, height) in pixels.
    """

    motion: torch.Tensor
    source: torch.Tensor
    render: torch.Tensor
    sizes: list[tuple[int, int]]


def object_cameras(scene: BenchmarkScene) -> ObjectCameras:
    """The cameras of a rendered object as a single-image model sees them: every pose moved by the
    rigid motion that puts view 0 on the canonical source pose at its own distance from the origin
    (`normalize_to_source`, OpenLRM's 'auto'), OpenGL axes in the camera vectors, intrinsics
    normalised by each view's size (`normalized_pinhole`)."""
    from recon3r.geometry.cameras import opencv_opengl_pose
    from recon3r.lrm.cameras import normalize_to_source
    from recon3r.models.lrm import render_camera_vector, source_camera_vector

    poses = torch.as_tensor(np.asarray(scene.world_from_cam), dtype=torch.float64)
    normalized = normalize_to_source(poses, 0)
    motion = normalized[0] @ torch.linalg.inv(poses[0])
    sizes = [(int(m.shape[1]), int(m.shape[0])) for m in scene.masks]
    pinholes = torch.as_tensor(np.stack([normalized_pinhole(k, w, h) for k, (w, h) in zip(scene.intrinsics, sizes)]))
    gl_poses = opencv_opengl_pose(normalized)
    return ObjectCameras(motion, source_camera_vector(gl_poses[:1], pinholes[:1]),
                         render_camera_vector(gl_poses, pinholes), sizes)


def subsample(points: np.ndarray, count: int = MAX_SURFACE_POINTS) -> np.ndarray:
    """Every k-th of (P, 3) points, k = ceil(P / count)."""
    step = max(1, -(-len(points) // count))
    return points[::step]


class NovelViewMethod(Method):
    """A single-image model (`ModelLRM`): view 0 → triplane → the other views rendered at their cameras.

    OpenLRM's training conventions: the input is the render on white, resized to the model's source
    size (`recon3r.lrm.cameras.inference_sizes`); every camera is moved by the rigid motion that puts
    view 0 on the canonical source pose at its own distance from the object
    (`recon3r.lrm.cameras.normalize_to_source`, OpenLRM's 'auto'), the source camera vector carries
    view 0's normalised intrinsics, and each other view is rendered whole at its own resolution and
    intrinsics over a white background (sampling noise seeded by `seed`). The predicted object mask
    is the rendered opacity > 0.5. The surface is the marching-cubes mesh (`recon3r.lrm.mesh`, grid
    `mesh_size`, density `mesh_threshold`) moved back to the benchmark's world; none when no density
    crosses the threshold.
    """

    system = "single_image"
    tasks = ("novel_view",)

    def __init__(self, weights: str | Path | None = None, *, model: torch.nn.Module | None = None,
                 name: str | None = None, device: str = "auto", mesh_size: int = 128, mesh_threshold: float = 3.0,
                 seed: int = 0, chunk: int = 1):
        if weights is None and model is None:
            raise ValueError("NovelViewMethod needs weights or a model")
        from recon3r.errors import ConfigError

        if mesh_size < 2:
            raise ConfigError(f"--mesh-size must be at least 2, got {mesh_size}")
        self.weights = Path(weights) if weights is not None else None
        self.model, self.device = model, device
        self.mesh_size, self.mesh_threshold, self.seed, self.chunk = int(mesh_size), float(mesh_threshold), seed, chunk
        self.name = name or (self.weights.name if self.weights is not None else type(model).__name__)

    @classmethod
    def from_checkpoint(cls, path: str | Path, settings: MethodSettings, *, model: torch.nn.Module | None = None,
                        name: str | None = None) -> NovelViewMethod:
        return cls(path, model=model, name=name, device=settings.device, mesh_size=settings.mesh_size,
                   seed=settings.seed)

    def load(self) -> torch.nn.Module:
        if self.model is None:
            from recon3r.models.checkpoint import load_model

            self.model = load_model(self.weights, device=self.device, task="single_image")
        return self.model

    @torch.no_grad()
    def predict(self, scene: BenchmarkScene) -> Prediction:
        from recon3r.lrm.cameras import inference_sizes
        from recon3r.lrm.mesh import extract_mesh
        from recon3r.lrm.preprocess import model_input
        from recon3r.lrm.video import render_views

        model = self.load().eval()
        parameter = next(model.parameters())
        start = time.perf_counter()
        source_size, _ = inference_sizes(model)
        image = (load_object_view(scene.image_paths[0]) * 255).round().astype(np.uint8)
        cameras = object_cameras(scene)
        planes = model.forward_planes(model_input(image, source_size).to(parameter), cameras.source.to(parameter))
        generator = torch.Generator().manual_seed(self.seed)
        renders: list[np.ndarray | None] = [None]
        masks: list[np.ndarray | None] = [None]
        for v in range(1, len(scene)):
            views = render_views(model, planes, cameras.render[v:v + 1], cameras.sizes[v][0], self.chunk, 1.0,
                                 generator)
            renders.append(views["rgb"][0].permute(1, 2, 0).double().cpu().numpy())
            masks.append(views["weight"][0, 0].cpu().numpy() > 0.5)
        surface, note = None, "no density above the threshold"
        try:
            mesh = extract_mesh(model, planes, self.mesh_size, self.mesh_threshold)
        except ValueError:
            mesh = None
        if mesh is not None:
            back = torch.linalg.inv(cameras.motion).numpy()
            vertices = subsample(mesh.vertices.astype(np.float64))
            surface, note = vertices @ back[:3, :3].T + back[:3, 3], f"{len(mesh.vertices)} mesh vertices"
        return Prediction(world_from_cam=None, renders=renders, render_masks=masks, surface=surface,
                          seconds=time.perf_counter() - start,
                          info={"source_size": source_size, "surface": note, "mesh_size": self.mesh_size})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "learned", "system": self.system,
                "weights": str(self.weights) if self.weights else None, "device": self.device,
                "input": "view 0 on white", "cameras": "normalised to the canonical source pose (auto distance)",
                "mesh_size": self.mesh_size, "mesh_threshold": self.mesh_threshold, "seed": self.seed}


class MeanColourMethod(Method):
    """Baseline: every other view is view 0's silhouette (its object mask, unchanged) filled with the
    object's mean colour on white. No geometry, so no Chamfer distance."""

    name = "mean-colour"
    tasks = ("novel_view",)

    def predict(self, scene: BenchmarkScene) -> Prediction:
        start = time.perf_counter()
        image = load_object_view(scene.image_paths[0])
        mask = scene.masks[0]
        colour = image[mask].mean(axis=0) if mask.any() else image.reshape(-1, 3).mean(axis=0)
        renders: list[np.ndarray | None] = [None]
        masks: list[np.ndarray | None] = [None]
        for v in range(1, len(scene)):
            target = scene.masks[v].shape
            silhouette = mask if mask.shape == target else np.zeros(target, bool)
            renders.append(np.where(silhouette[..., None], colour, 1.0))
            masks.append(silhouette)
        return Prediction(world_from_cam=None, renders=renders, render_masks=masks,
                          seconds=time.perf_counter() - start)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "baseline",
                "prediction": "view 0's silhouette filled with its mean object colour, on white"}


def score_novel_view(prediction: Prediction, scene: BenchmarkScene) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Per-view PSNR, SSIM, mask IoU of views 1 … V−1 and the object's Chamfer distance.

    Returns (the object's metrics: view means + `chamfer`, per-view metrics).
    """
    from recon3r.eval.metrics import chamfer_distance, novel_view_metrics

    if prediction.renders is None:
        raise ValueError(prediction.error or "the method rendered no views")
    frames = []
    for v in range(1, len(scene)):
        gt = load_object_view(scene.image_paths[v])
        render = prediction.renders[v]
        if render is None or render.shape != gt.shape:
            raise ValueError(f"view {v}: rendered {None if render is None else render.shape}, expected {gt.shape}")
        pred_mask = None if prediction.render_masks is None else prediction.render_masks[v]
        frames.append({"view": float(v), **novel_view_metrics(render, gt, pred_mask, scene.masks[v])})
    summary = {key: float(np.mean([f[key] for f in frames])) for key in ("psnr", "ssim", "mask_iou")}
    summary.update(chamfer=float("nan"), acc=float("nan"), comp=float("nan"))
    if prediction.surface is not None and scene.surface_points is not None and len(prediction.surface):
        summary.update(chamfer_distance(prediction.surface, subsample(scene.surface_points)))
    summary["views"] = float(len(frames))
    return summary, frames
