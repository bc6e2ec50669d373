"""Turntable renders: cameras on a circle around the object → PNG frames and an animated GIF (Pillow).

The circle lies in the model frame's x–z plane (the source camera's horizontal plane), at the source
camera's distance, every camera looking at the origin with its y axis along the model's +y ("down"
in the source image). Frame 0 is the source viewpoint; frames advance by 360° / N about the y axis.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from recon3r.lrm.render import camera_rays, pixel_grid


def turntable_poses(frames: int, distance: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, 4, 4) cam-to-world poses (OpenCV axes) on the circle, frame 0 at (0, 0, −distance)."""
    poses = []
    for k in range(frames):
        angle = 2 * math.pi * k / frames
        c, s = math.cos(angle), math.sin(angle)
        rotation = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=dtype)  # about +y
        pose = torch.eye(4, dtype=dtype)
        pose[:3, :3] = rotation
        pose[:3, 3] = rotation @ torch.tensor([0.0, 0.0, -distance], dtype=dtype)
        poses.append(pose)
    return torch.stack(poses)


@torch.no_grad()
def render_turntable(model: torch.nn.Module, planes: torch.Tensor, intrinsics: torch.Tensor, size: int,
                     frames: int = 24, samples: int = 48, background: float = 1.0) -> list[np.ndarray]:
    """Render `frames` views (size × size, pinhole `intrinsics` (3, 3)) of planes (1, 3, C, R, R)
    → list of (size, size, 3) uint8 images."""
    distance = float(model.cfg.source_distance)
    poses = turntable_poses(frames, distance).to(planes.device)
    K = intrinsics.to(planes.device, torch.float32)[None]
    pixels = pixel_grid(size, size, device=planes.device)
    images = []
    for pose in poses:
        origins, dirs = camera_rays(K, pose[None], pixels)
        out = model.render(planes, origins, dirs, samples, background=background)
        rgb = out.rgb.reshape(size, size, 3).clamp(0, 1).cpu().numpy()
        images.append((rgb * 255).round().astype(np.uint8))
    return images


def save_frames(frames: list[np.ndarray], out_dir: str | Path, gif_name: str = "turntable.gif", fps: float = 12.0,
                pngs: bool = True) -> Path:
    """Write frame_000.png ... (when `pngs`) and an endlessly looping GIF; returns the GIF's path."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to save")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pil = [Image.fromarray(f) for f in frames]
    if pngs:
        for i, image in enumerate(pil):
            image.save(out / f"frame_{i:03d}.png")
    gif = out / gif_name
    pil[0].save(gif, save_all=True, append_images=pil[1:], duration=round(1000 / fps), loop=0, disposal=2)
    return gif
