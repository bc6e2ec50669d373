"""Turntable renders of a triplane → frames, MP4 (imageio with its ffmpeg plugin) and GIF (Pillow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recon3r.errors import ConfigError
from recon3r.lrm.cameras import orbit_render_cameras


@torch.no_grad()
def render_views(model: torch.nn.Module, planes: torch.Tensor, cameras: torch.Tensor, size: int, chunk: int = 2,
                 background: float = 1.0, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Render one triplane (1, 3, C, H, W) from M render cameras (M, 25) as whole size × size views.

    Views are rendered `chunk` at a time (OpenLRM's `frame_size`), each chunk with fresh sampling
    noise (from `generator` when given, for reproducible views). Returns `rgb` (M, 3, size, size) in
    [0, 1] over the grey `background`, `weight` (M, 1, size, size) the accumulated opacity and
    `depth` (M, 1, size, size) the expected ray depth.
    """
    if size < 1 or chunk < 1:
        raise ConfigError(f"need size and chunk >= 1, got {size}, {chunk}")
    device, dtype = planes.device, planes.dtype
    cameras = cameras.to(device, dtype)[None]
    D = model.synthesizer.coarse_samples
    out: dict[str, list[torch.Tensor]] = {"rgb": [], "weight": [], "depth": []}
    for start in range(0, cameras.shape[1], chunk):
        m = min(chunk, cameras.shape[1] - start)
        noise = {}
        if generator is not None:
            noise = {"stratified_noise": torch.rand(m, size * size, D, 1, generator=generator).to(device, dtype),
                     "importance_noise": torch.rand(m * size * size, D, generator=generator).to(device, dtype)}
        views = model.synthesizer(planes[:1], cameras[:, start:start + m], torch.zeros(1, m, 2, device=device, dtype=dtype),
                                  torch.full((1, m, 1), float(size), device=device, dtype=dtype),
                                  torch.full((1, m, 1), background, device=device, dtype=dtype), size, **noise)
        out["rgb"].append(views["images_rgb"][0].clamp(0, 1))
        out["weight"].append(views["images_weight"][0])
        out["depth"].append(views["images_depth"][0])
    return {key: torch.cat(values) for key, values in out.items()}


@torch.no_grad()
def render_turntable(model: torch.nn.Module, planes: torch.Tensor, views: int = 160, size: int = 192,
                     chunk: int = 2, background: float = 1.0, generator: torch.Generator | None = None
                     ) -> list[np.ndarray]:
    """Render `views` frames (size × size) of one triplane (1, 3, C, H, W) on the turntable orbit
    (`render_views`). Returns (size, size, 3) uint8 frames.
    """
    if views < 1:
        raise ConfigError(f"need views >= 1, got {views}")
    rgb = render_views(model, planes, orbit_render_cameras(views), size, chunk, background, generator)["rgb"]
    return list((rgb.permute(0, 2, 3, 1).float().cpu().numpy() * 255).round().astype(np.uint8))


def write_mp4(frames: list[np.ndarray], path: str | Path, fps: float = 30.0) -> Path:
    """H.264 MP4 (yuv420p) of (H, W, 3) uint8 frames, through imageio's ffmpeg plugin (imageio-ffmpeg)."""
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the plugin's bundled ffmpeg binary)
    except ImportError:
        raise ConfigError("MP4 export needs imageio and imageio-ffmpeg: pip install 'recon3r[lrm]'") from None
    if not frames:
        raise ValueError("no frames to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2,
                            ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(frame)
    return path


def write_gif(frames: list[np.ndarray], path: str | Path, fps: float = 30.0) -> Path:
    """Endlessly looping animated GIF of (H, W, 3) uint8 frames."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, round(1000 / fps)), loop=0,
                   disposal=2)
    return path
