"""`reconstruct_stream`: frames → world pointmaps, confidences, cameras and memory size, online.

Cameras are read off the two pointmaps the streaming model predicts per frame: the pose
world_from_cam is the confidence-weighted Procrustes fit (Umeyama, `recon3r.geometry.umeyama`)
that maps the frame's camera-frame points onto its world-frame points (its translation is the
camera centre whatever the fitted scale), and the focal is `recon3r.geometry.estimate_focal` on
the camera-frame points (principal point at the image centre). Depth is the camera-frame z.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from recon3r.geometry.focal import estimate_focal
from recon3r.geometry.registration import umeyama

ImagesInput = str | os.PathLike | Sequence[str | os.PathLike] | Tensor


@dataclass
class StreamResult:
    """Per-frame outputs of a stream of T frames at network resolution (H, W), world = frame 0's camera.

    points (T, H, W, 3) world frame; conf (T, H, W) (≥ 1); points_cam (T, H, W, 3) own camera frame;
    depths (T, H, W); world_from_cam (T, 4, 4) float64 (OpenCV axes); intrinsics (T, 3, 3) float64;
    memory_sizes (T,) pointers in memory after each frame; seconds_per_frame (T,) model time.
    """

    names: list[str]
    images: np.ndarray  # (T, H, W, 3) float32 RGB in [0, 1]
    points: np.ndarray
    conf: np.ndarray
    points_cam: np.ndarray
    depths: np.ndarray
    world_from_cam: np.ndarray
    intrinsics: np.ndarray
    memory_sizes: np.ndarray
    seconds_per_frame: np.ndarray
    metadata: dict = field(default_factory=dict)

    def to_scene(self, min_conf: float = 1.0):
        """A `recon3r.scene.Scene` for the exporters (points with conf ≥ `min_conf` are kept)."""
        from recon3r.scene import Scene

        return Scene(names=list(self.names), images=list(self.images), world_from_cam=self.world_from_cam,
                     intrinsics=self.intrinsics, depths=list(self.depths), points=list(self.points),
                     confidences=list(self.conf), masks=[c >= min_conf for c in self.conf], metadata=self.metadata)


def cameras_from_pointmaps(points_world: Tensor, points_cam: Tensor, conf: Tensor | None = None
                           ) -> tuple[Tensor, Tensor]:
    """Poses and focals from paired pointmaps (T, H, W, 3) (world / own camera frame), weights conf (T, H, W).

    Returns world_from_cam (T, 4, 4) (rotation and centre of the similarity cam → world) and
    focal (T,) in pixels, principal point at the image centre, clipped to [0.2, 20]·`focal_base(H, W)`.
    """
    T = points_world.shape[0]
    weights = None if conf is None else conf.reshape(T, -1)
    _, rotation, translation = umeyama(points_cam.reshape(T, -1, 3), points_world.reshape(T, -1, 3), weights)
    pose = torch.eye(4, dtype=points_world.dtype, device=points_world.device).repeat(T, 1, 1)
    pose[:, :3, :3] = rotation
    pose[:, :3, 3] = translation
    # Clipped to [0.2, 20]·focal_base: a degenerate map (e.g. an untrained model's) still gives a usable camera.
    return pose, estimate_focal(points_cam, min_focal=0.2, max_focal=20.0)


def _load_frames(images: ImagesInput, size: int) -> tuple[Tensor, list[str]]:
    if isinstance(images, Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"a frame tensor must be (T, 3, H, W) in [-1, 1], got {tuple(images.shape)}")
        return images, [f"frame_{i:04d}" for i in range(images.shape[0])]
    from recon3r.errors import ImageLoadError
    from recon3r.io.images import load_images

    views = load_images(images, size=size, min_images=1)
    shapes = {tuple(v.img.shape[-2:]) for v in views}
    if len(shapes) > 1:
        listed = ", ".join(f"{v.name}: {v.width}x{v.height}" for v in views)
        raise ImageLoadError(f"streaming needs frames of one aspect ratio; they resize to different sizes ({listed})")
    return torch.cat([v.img for v in views]), [v.name for v in views]


@torch.no_grad()
def reconstruct_stream(images_or_folder: ImagesInput, model: nn.Module, *, size: int | None = None,
                       device: str | torch.device | None = None) -> StreamResult:
    """Reconstruct a stream of frames online with a `Point3R` model, one frame at a time.

    Args:
        images_or_folder: a folder, image files (in stream order; folders sort by name), or a
            (T, 3, H, W) tensor in [-1, 1].
        model: a `recon3r.models.point3r.Point3R` (e.g. from `recon3r.load_model(dir)`).
        size: long side images are resized to (default: the model's training width/height maximum).
        device: where to run (default: the model's device).
    """
    if not hasattr(model, "step") or not hasattr(model, "new_memory"):
        raise TypeError(f"{type(model).__name__} is not a streaming model (expected recon3r's Point3R)")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    frames, names = _load_frames(images_or_folder, size or max(model.cfg.img_size))
    memory = model.new_memory(device)
    outs, sizes, seconds = [], [], []
    for t in range(frames.shape[0]):
        start = time.perf_counter()
        out, memory = model.step(frames[t : t + 1].to(device), memory)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
        sizes.append(len(memory))
        outs.append({k: v[0].float().cpu() for k, v in out.items() if isinstance(v, Tensor)})
    world = torch.stack([o["pts3d"] for o in outs]).double()
    cam = torch.stack([o["pts3d_cam"] for o in outs]).double()
    conf = torch.stack([o["conf"] for o in outs])
    poses, focal = cameras_from_pointmaps(world, cam, conf.double())
    T, H, W = conf.shape
    intrinsics = torch.zeros(T, 3, 3, dtype=torch.float64)
    intrinsics[:, 0, 0] = intrinsics[:, 1, 1] = focal
    intrinsics[:, 0, 2], intrinsics[:, 1, 2], intrinsics[:, 2, 2] = W / 2, H / 2, 1.0
    rgb = (frames.permute(0, 2, 3, 1).float().cpu().numpy() * 0.5 + 0.5).clip(0.0, 1.0)
    return StreamResult(
        names=names, images=rgb, points=world.float().numpy(), conf=conf.numpy(), points_cam=cam.float().numpy(),
        depths=cam[..., 2].float().numpy(), world_from_cam=poses.numpy(), intrinsics=intrinsics.numpy(),
        memory_sizes=np.asarray(sizes), seconds_per_frame=np.asarray(seconds),
        metadata={"model": type(model).__name__, "memory_sizes": sizes},
    )
