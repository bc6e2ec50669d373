"""Everything about a scene in one `.npz` (no pickled objects), and loading it back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recon3r.io.exports._common import image_file_names, image_sources
from recon3r.scene import ImageTransform, Scene

_PER_IMAGE = {"image": "images", "depth": "depths", "points": "points", "conf": "confidences", "mask": "masks"}


def export_npz(scene: Scene, path: str | Path) -> Path:
    """Write `scene` to a compressed `.npz`; returns the path.

    Keys: `names` (N,), `world_from_cam` / `cam_from_world` (N, 4, 4), `intrinsics` (N, 3, 3) at network
    resolution, `network_size` (N, 2) as (width, height), `export_names` (N,) the PNG names `export_scene`
    writes under `images/` and `source_paths` (N,) the file each came from; with transforms also `intrinsics_original`,
    `original_size`, `scale` (N,), `crop_offset` (N, 2); per image i, `image_{i:04d}` (H, W, 3),
    `depth_{i:04d}`, `points_{i:04d}` (world frame), `conf_{i:04d}`, `mask_{i:04d}`; `metadata_json`.
    """
    world_from_cam = np.asarray(scene.world_from_cam, dtype=np.float64)
    arrays: dict[str, np.ndarray] = {
        "names": np.array([str(n) for n in scene.names], dtype=np.str_),
        "export_names": np.array(image_file_names(scene), dtype=np.str_),
        "source_paths": np.array(image_sources(scene), dtype=np.str_),
        "world_from_cam": world_from_cam,
        "cam_from_world": np.linalg.inv(world_from_cam),
        "intrinsics": np.asarray(scene.intrinsics, dtype=np.float64),
        "network_size": np.array([(img.shape[1], img.shape[0]) for img in scene.images], dtype=np.int64),
        "metadata_json": np.array(json.dumps(scene.metadata, default=str)),
    }
    if scene.transforms is not None:
        arrays["intrinsics_original"] = scene.intrinsics_original()
        arrays["original_size"] = np.array([t.original_size for t in scene.transforms], dtype=np.int64)
        arrays["scale"] = np.array([t.scale for t in scene.transforms], dtype=np.float64)
        arrays["crop_offset"] = np.array([t.crop_offset for t in scene.transforms], dtype=np.float64)
    for key, attr in _PER_IMAGE.items():
        for i, value in enumerate(getattr(scene, attr)):
            arrays[f"{key}_{i:04d}"] = np.asarray(value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_scene_npz(path: str | Path) -> Scene:
    """Read a scene written by `export_npz` (without unpickling anything)."""
    with np.load(path, allow_pickle=False) as data:
        n = len(data["names"])
        per_image = {attr: [data[f"{key}_{i:04d}"] for i in range(n)] for key, attr in _PER_IMAGE.items()}
        transforms = None
        if "original_size" in data:
            transforms = [
                ImageTransform(
                    original_size=tuple(int(v) for v in data["original_size"][i]),
                    scale=float(data["scale"][i]),
                    crop_offset=tuple(float(v) for v in data["crop_offset"][i]),
                    network_size=tuple(int(v) for v in data["network_size"][i]),
                )
                for i in range(n)
            ]
        sources = [str(s) for s in data["source_paths"]] if "source_paths" in data else None
        return Scene(
            names=[str(s) for s in data["names"]],
            sources=sources,
            world_from_cam=data["world_from_cam"],
            intrinsics=data["intrinsics"],
            transforms=transforms,
            metadata=json.loads(str(data["metadata_json"])),
            **per_image,
        )
