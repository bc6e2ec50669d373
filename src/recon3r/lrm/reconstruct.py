"""One image → triplane → mesh and turntable frames, with a trained `LRM`.

The image is centre-cropped to a square and resized to the model's input size. The object should
stand alone, centred, on a white background (what the model is trained on). The source camera is
assumed at the model's canonical pose ((0, 0, −source_distance), looking along +z) with a square
pinhole of horizontal field of view `fov_deg` (the procedural training data draws 45–55°).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from recon3r.errors import ConfigError, ImageLoadError
from recon3r.lrm.data import BACKGROUND, square_intrinsics
from recon3r.lrm.mesh import Mesh, extract_mesh
from recon3r.lrm.turntable import render_turntable

ImageLike = str | Path | np.ndarray


@dataclass
class SingleImageResult:
    planes: torch.Tensor  # (1, 3, C, R, R) triplane
    mesh: Mesh | None  # None when no density crosses the threshold
    frames: list[np.ndarray]  # turntable views, (S, S, 3) uint8
    image: np.ndarray  # the model's input, (S, S, 3) uint8
    seconds: float  # triplane + mesh + turntable


def load_square_image(image: ImageLike, size: int) -> np.ndarray:
    """A file path or an (H, W, 3) uint8 array → centre-cropped, resized (size, size, 3) uint8."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as f:
                pil = f.convert("RGB")
        except (OSError, UnidentifiedImageError) as err:
            raise ImageLoadError(f"cannot read image {image}: {err}") from None
    else:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise ImageLoadError(f"expected an (H, W, 3) uint8 image, got {array.shape} {array.dtype}")
        pil = Image.fromarray(array)
    w, h = pil.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    pil = pil.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    return np.array(pil, dtype=np.uint8)


@torch.no_grad()
def reconstruct_single(image: ImageLike, model: torch.nn.Module, *, fov_deg: float = 50.0, resolution: int = 64,
                       threshold: float = 1.0, frames: int = 24, frame_size: int | None = None,
                       samples: int = 48) -> SingleImageResult:
    """Reconstruct one image: triplane, marching-cubes mesh (model frame) and `frames` turntable views.

    `resolution`: density grid points per axis for the mesh; `threshold`: density of the surface;
    `frame_size`: turntable image side (default: the model's input size).
    """
    from recon3r.models.lrm import LRM, normalized_intrinsics

    if not isinstance(model, LRM):
        raise ConfigError(f"reconstruct_single needs an LRM model, got {type(model).__name__}")
    if resolution < 2 or frames < 1:
        raise ConfigError(f"need resolution >= 2 and frames >= 1, got {resolution} and {frames}")
    model.eval()
    device = next(model.parameters()).device
    size = model.cfg.img_size
    start = time.perf_counter()
    rgb = load_square_image(image, size)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1
    K = torch.from_numpy(square_intrinsics(size, fov_deg)).float()
    planes = model(tensor, normalized_intrinsics(K[None], size, size).to(device))

    def density(points: torch.Tensor) -> torch.Tensor:
        return model.query(planes, points[None].to(device))[0][0]

    def color(points: torch.Tensor) -> torch.Tensor:
        return model.query(planes, points[None].to(device))[1][0]

    try:
        mesh: Mesh | None = extract_mesh(density, resolution, threshold, color=color, device=device)
    except ValueError:
        mesh = None
    out_size = frame_size or size
    frame_K = torch.from_numpy(square_intrinsics(out_size, fov_deg)).float()
    views = render_turntable(model, planes, frame_K, out_size, frames, samples, BACKGROUND)
    return SingleImageResult(planes, mesh, views, rgb, time.perf_counter() - start)
