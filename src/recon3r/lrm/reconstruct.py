"""One image → triplane → mesh and turntable, with a ModelLRM (OpenLRM's inference, step by step).

1. `prepare_object`: the object cut out (alpha, or a border-colour background estimate) and
   recentred in a square with OpenLRM's framing (border ratio 0.2);
2. `model_input`: on white, resized to the model's source size (224 / 336 / 448 for the released
   small / base / large);
3. `forward_planes` with the canonical source camera (distance 2, focal 0.75);
4. mesh: marching cubes of the density grid (`--mesh-size`, threshold 3) with vertex colours;
5. video: `views` frames on the orbit of radius 2 and height 0.8, white background.
Outputs (`write_outputs`): mesh.ply, mesh.glb, turntable.mp4, turntable.gif, triplane.safetensors
and input.png (the model's input).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from recon3r.errors import ConfigError
from recon3r.lrm.cameras import SOURCE_DISTANCE, canonical_source_camera, inference_sizes
from recon3r.lrm.mesh import Mesh, export_mesh, extract_mesh
from recon3r.lrm.preprocess import BORDER_RATIO, load_image, model_input, prepare_object
from recon3r.lrm.video import render_turntable, write_gif, write_mp4


@dataclass
class SingleImageOptions:
    """What `reconstruct_single` does; None sizes follow the model (`recon3r.lrm.cameras.inference_sizes`)."""

    source_size: int | None = None
    render_size: int | None = None
    source_distance: float = SOURCE_DISTANCE
    recenter: bool = True  # cut out and recentre (False: the image is already prepared)
    border_ratio: float = BORDER_RATIO
    export_mesh: bool = True
    export_video: bool = True
    mesh_size: int = 384
    mesh_threshold: float = 3.0
    views: int = 160
    chunk: int = 2  # views rendered together
    seed: int = 0  # of the render's sampling noise


@dataclass
class SingleImageResult:
    planes: torch.Tensor  # (1, 3, C, H, W) triplane
    image: np.ndarray  # the model's input, (S, S, 3) uint8
    mesh: Mesh | None  # None when not asked for or no density crosses the threshold
    frames: list[np.ndarray] = field(default_factory=list)  # turntable, (R, R, 3) uint8
    seconds: float = 0.0


@torch.no_grad()
def reconstruct_single(image: str | Path | np.ndarray, model: torch.nn.Module,
                       options: SingleImageOptions | None = None) -> SingleImageResult:
    """Reconstruct one image (a path or an (H, W, 3 or 4) uint8 array) with a ModelLRM."""
    from recon3r.models.lrm import ModelLRM

    options = options or SingleImageOptions()
    if not isinstance(model, ModelLRM):
        raise ConfigError(f"reconstruct_single needs a ModelLRM, got {type(model).__name__}")
    start = time.perf_counter()
    model.eval()
    parameter = next(model.parameters())
    default_source, default_render = inference_sizes(model)
    source_size = options.source_size or default_source
    render_size = options.render_size or default_render
    if source_size % model.patch_size:
        raise ConfigError(f"the source size {source_size} is not a multiple of the encoder's patch {model.patch_size}")
    pixels = load_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
    if options.recenter:
        pixels = prepare_object(pixels, size=max(512, source_size), border_ratio=options.border_ratio)
    tensor = model_input(pixels, source_size).to(parameter)
    camera = canonical_source_camera(options.source_distance).to(parameter)
    planes = model.forward_planes(tensor, camera)
    mesh = None
    if options.export_mesh:
        try:
            mesh = extract_mesh(model, planes, options.mesh_size, options.mesh_threshold)
        except ValueError:
            mesh = None
    frames = []
    if options.export_video:
        generator = torch.Generator().manual_seed(options.seed)
        frames = render_turntable(model, planes, options.views, render_size, options.chunk, generator=generator)
    shown = (tensor[0].permute(1, 2, 0).float().cpu().numpy() * 255).round().astype(np.uint8)
    return SingleImageResult(planes, shown, mesh, frames, time.perf_counter() - start)


def write_outputs(result: SingleImageResult, out_dir: str | Path, fps: float = 30.0) -> list[Path]:
    """Write what `result` holds into `out_dir`; returns the paths written."""
    from PIL import Image
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "input.png", out / "triplane.safetensors"]
    Image.fromarray(result.image).save(written[0])
    save_file({"planes": result.planes.detach().float().cpu().contiguous()}, str(written[1]),
              metadata={"layout": "(N, 3, C, H, W); planes read at (x, y), (x, z), (z, y); box [-1, 1]^3"})
    if result.mesh is not None:
        written += [export_mesh(result.mesh, out / "mesh.ply"), export_mesh(result.mesh, out / "mesh.glb")]
    if result.frames:
        written += [write_mp4(result.frames, out / "turntable.mp4", fps), write_gif(result.frames, out / "turntable.gif", fps)]
    return written
