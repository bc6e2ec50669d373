"""nerfstudio `transforms.json`: per-frame pinhole intrinsics and OpenGL-axis cam-to-world matrices."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from recon3r.io.exports._common import (
    Resolution,
    cameras_at,
    image_file_names,
    image_sources,
    resolve_resolution,
)
from recon3r.scene import Scene

# OpenCV camera axes (x right, y down, z forward) to OpenGL/nerfstudio (x right, y up, z backward).
OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def export_nerfstudio(
    scene: Scene,
    path: str | Path,
    resolution: Resolution = "network",
    image_paths: list[str | Path] | None = None,
    ply_path: str | Path | None = None,
) -> Path:
    """Write `transforms.json` at `path`; returns it.

    `transform_matrix` is world_from_cam with the camera's y and z axes flipped (OpenGL). Intrinsics
    follow nerfstudio's convention (pixel centres at +0.5). `file_path` defaults to the PNGs
    `export_scene` writes under `images/` (network) or to the original file names (original);
    `image_paths` overrides it. Relative paths are relative to the json's folder. Each frame also
    records `source_path`, the file the image was read from (nerfstudio ignores the key).
    """
    resolution = resolve_resolution(scene, resolution)
    intrinsics, sizes = cameras_at(scene, resolution)
    path = Path(path)
    if image_paths is None:
        image_paths = [Path(str(n)).name for n in scene.names] if resolution == "original" \
            else [f"images/{n}" for n in image_file_names(scene)]
    if len(image_paths) != len(scene):
        raise ValueError(f"need {len(scene)} image paths, got {len(image_paths)}")
    sources = image_sources(scene)
    frames = []
    for i in range(len(scene)):
        k, (w, h) = intrinsics[i], sizes[i]
        pose = np.asarray(scene.world_from_cam[i], dtype=np.float64) @ OPENGL_FROM_OPENCV
        frames.append({
            "file_path": _relative(image_paths[i], path.parent),
            "fl_x": float(k[0, 0]), "fl_y": float(k[1, 1]),
            "cx": float(k[0, 2]) + 0.5, "cy": float(k[1, 2]) + 0.5,
            "w": int(w), "h": int(h),
            "transform_matrix": pose.tolist(),
            "source_path": sources[i],
        })
    meta: dict = {"camera_model": "OPENCV", "frames": frames}
    if ply_path is not None:
        meta["ply_file_path"] = _relative(ply_path, path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def _relative(target: str | Path, base: Path) -> str:
    target = Path(target)
    if target.is_absolute():
        try:
            return Path(os.path.relpath(target, base.resolve())).as_posix()
        except ValueError:  # another drive on Windows
            return target.as_posix()
    return target.as_posix()
