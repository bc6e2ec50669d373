"""Rendered multi-view object datasets (Objaverse-style, for single-image 3D): `RenderedObjects`.

Two on-disk layouts, one folder per object under ROOT (detected per object):

MIRA's (written by MIRA's Blender script, by `recon3r/scripts/render_objects.py` and by
`recon3r.data.procedural.objects.write_rendered_objects`):

    ROOT/<object>/000.png ...      RGBA renders (alpha = the object)
    ROOT/<object>/000.npy ...      3 × 4 world-to-camera [R | t] of each render, Blender camera axes
                                   (x right, y up, looking along −z): MIRA's `get_3x4_RT_matrix_from_blender`
    ROOT/<object>/metadata.json    MIRA's metadata; recon3r's writers add `fov_deg` (one per render,
                                   the field of view across the larger image side, Blender's sensor fit)
    ROOT/<object>/000_depth.npy    optional z-depth (H, W), 0 on the background (recon3r's procedural writer)
    ROOT/<object>/points.npy       optional (P, 3) surface samples, mesh.ply an optional mesh

Without `fov_deg`, the field of view is that of MIRA's camera: a 35 mm lens on a 32 mm sensor
(49.13°). OpenLRM's (its `scripts/data/objaverse/blender_script.py`):

    ROOT/<object>/rgba/000.png, pose/000.npy (3 × 4 cam-to-world, Blender axes),
    intrinsics.npy ([[fx, fy], [cx, cy], [width, height]], pixels, cx = width / 2)

The world is the renderer's (z up, the object normalised about the origin). Optional
`ROOT/splits.json` maps split names to object folder names.

Each view dict is the shared sample format (`recon3r.data.base`): the render composited on
`background`, pinhole intrinsics in pixels, `camera_pose` the OpenCV cam-to-world, depth when the
folder has it (else 0 and `valid_mask` False), and `object_mask` (H, W) bool, the object (alpha ≥ 0.5).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from recon3r.data.base import MultiViewDataset, RawView
from recon3r.data.format import DatasetError

MIRA_FOV_DEG = math.degrees(2 * math.atan(16.0 / 35.0))  # MIRA's camera: 35 mm lens, 32 mm sensor
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # right-multiply a cam-to-world to swap camera axes


@dataclass
class RenderedObject:
    """One object folder: its renders and their cameras (OpenCV cam-to-world, pixel intrinsics)."""

    name: str
    images: list[Path]
    world_from_cam: list[np.ndarray]  # (4, 4) each
    intrinsics: list[np.ndarray]  # (3, 3) each, pixel centres at integer coordinates
    depths: list[Path | None]
    root: Path

    def __len__(self) -> int:
        return len(self.images)

    @property
    def points_path(self) -> Path | None:
        path = self.root / "points.npy"
        return path if path.is_file() else None

    @property
    def mesh_path(self) -> Path | None:
        path = self.root / "mesh.ply"
        return path if path.is_file() else None


@dataclass
class RenderedView(RawView):
    """A raw render and the grey level it was composited on."""

    background: float = 1.0


def intrinsics_from_fov(fov_deg: float, width: int, height: int) -> np.ndarray:
    """(3, 3) pinhole K in pixels for a field of view across the larger side, centred, square pixels."""
    focal = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2)
    return np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])


def world_from_cam_of_mira(world_to_camera: np.ndarray) -> np.ndarray:
    """MIRA's 3 × 4 world-to-camera in Blender axes → (4, 4) OpenCV cam-to-world."""
    pose = np.eye(4)
    pose[:3] = np.asarray(world_to_camera, dtype=np.float64).reshape(3, 4)
    return np.linalg.inv(pose) @ BLENDER_TO_OPENCV


def read_rendered_object(folder: Path) -> RenderedObject:
    """Parse one object folder in either layout (see the module docstring)."""
    if (folder / "rgba").is_dir():
        return _read_openlrm_object(folder)
    images = sorted(p for p in folder.glob("*.png") if p.stem.isdigit())
    if not images:
        raise DatasetError(f"{folder}: no renders (000.png, 001.png, ...) and no rgba/ folder")
    fov = [MIRA_FOV_DEG] * len(images)
    meta_path = folder / "metadata.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"{meta_path}: not valid JSON ({err})") from None
        if "fov_deg" in meta:
            fov = meta["fov_deg"] if isinstance(meta["fov_deg"], list) else [meta["fov_deg"]] * len(images)
            if len(fov) != len(images):
                raise DatasetError(f"{meta_path}: fov_deg lists {len(fov)} values for {len(images)} renders")
    poses, intrinsics, depths = [], [], []
    for image, fov_deg in zip(images, fov):
        pose_path = image.with_suffix(".npy")
        if not pose_path.is_file():
            raise DatasetError(f"{folder}: render {image.name} has no camera {pose_path.name}")
        world_to_camera = np.load(pose_path)
        if world_to_camera.shape not in ((3, 4), (4, 4)):
            raise DatasetError(f"{pose_path}: expected a 3 × 4 world-to-camera matrix, got {world_to_camera.shape}")
        poses.append(world_from_cam_of_mira(world_to_camera[:3]))
        with Image.open(image) as pil:
            intrinsics.append(intrinsics_from_fov(float(fov_deg), *pil.size))
        depth = folder / f"{image.stem}_depth.npy"
        depths.append(depth if depth.is_file() else None)
    return RenderedObject(folder.name, images, poses, intrinsics, depths, folder)


def _read_openlrm_object(folder: Path) -> RenderedObject:
    images = sorted((folder / "rgba").glob("*.png"))
    if not images:
        raise DatasetError(f"{folder / 'rgba'}: no renders")
    principles = np.load(folder / "intrinsics.npy") if (folder / "intrinsics.npy").is_file() else None
    if principles is None or principles.shape != (3, 2):
        raise DatasetError(f"{folder}: intrinsics.npy must hold [[fx, fy], [cx, cy], [width, height]]")
    poses, intrinsics = [], []
    for image in images:
        pose_path = folder / "pose" / f"{image.stem}.npy"
        if not pose_path.is_file():
            raise DatasetError(f"{folder}: render {image.name} has no camera pose/{pose_path.name}")
        pose = np.eye(4)
        pose[:3] = np.load(pose_path).reshape(3, 4)
        poses.append(pose @ BLENDER_TO_OPENCV)
        with Image.open(image) as pil:
            sx, sy = pil.size[0] / principles[2, 0], pil.size[1] / principles[2, 1]
        (fx, fy), (cx, cy) = principles[0], principles[1]
        intrinsics.append(np.array([[fx * sx, 0.0, cx * sx - 0.5], [0.0, fy * sy, cy * sy - 0.5], [0.0, 0.0, 1.0]]))
    return RenderedObject(folder.name, images, poses, intrinsics, [None] * len(images), folder)


class RenderedObjects(MultiViewDataset):
    """Objects rendered from many viewpoints (see the module docstring for the layouts).

    Items: one per (object, render): that render first (the source view), then `num_views − 1`
    other renders of the object drawn at random (seeded by epoch and index); `num_views=None`
    gives every render of the object in order, once per object.

    Args:
        ROOT: the folder of object folders.
        split: a key of ROOT/splits.json, or None for every object.
        num_views: views per item (≥ 1), or None.
        background: grey level in [0, 1] composited behind the renders, or 'random' (one grey per item).
        Other keyword arguments: see `MultiViewDataset` (resolution, transform, aug_crop, seed, ...).
    """

    dataset_label = "RenderedObjects"

    def __init__(self, ROOT: str | None = None, *, split: str | None = None, num_views: int | None = 4,
                 background: float | str = 1.0, **kwargs: Any):
        super().__init__(split=split, **kwargs)
        if ROOT is None:
            raise DatasetError("RenderedObjects needs ROOT, the folder of rendered object folders")
        if num_views is not None and (isinstance(num_views, bool) or not isinstance(num_views, int) or num_views < 1):
            raise ValueError(f"num_views must be a positive integer or None, got {num_views!r}")
        if background != "random" and not (isinstance(background, (int, float)) and 0 <= background <= 1):
            raise ValueError(f"background must be a grey level in [0, 1] or 'random', got {background!r}")
        self.ROOT, self.num_views, self.background = Path(ROOT), num_views, background
        if not self.ROOT.is_dir():
            raise DatasetError(f"RenderedObjects ROOT not found: {self.ROOT}")
        self.objects = [read_rendered_object(self.ROOT / name) for name in self._object_names(split)]
        if not self.objects:
            raise DatasetError(f"{self.ROOT}: no object folders" + (f" in split {split!r}" if split else ""))
        short = [o.name for o in self.objects if num_views is not None and len(o) < num_views]
        if short:
            raise DatasetError(f"{self.ROOT}: object(s) {', '.join(short[:5])} have fewer than num_views={num_views} renders")
        self.items = ([(o, v) for o in range(len(self.objects)) for v in range(len(self.objects[o]))]
                      if num_views is not None else [(o, 0) for o in range(len(self.objects))])

    def _object_names(self, split: str | None) -> list[str]:
        splits_path = self.ROOT / "splits.json"
        if split is None:
            return sorted(p.name for p in self.ROOT.iterdir() if p.is_dir())
        if not splits_path.is_file():
            raise DatasetError(f"{self.ROOT}: split {split!r} asked for but there is no splits.json")
        splits = json.loads(splits_path.read_text())
        if split not in splits:
            raise DatasetError(f"{splits_path}: no split {split!r} (known: {', '.join(sorted(splits))})")
        return list(splits[split])

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_scenes(self) -> int:
        return len(self.objects)

    def item_views(self, idx: int, rng: np.random.Generator) -> list[RawView]:
        obj, source = self.items[idx]
        count = len(self.objects[obj])
        grey = float(rng.uniform()) if self.background == "random" else float(self.background)
        if self.num_views is None:
            views = list(range(count))
        else:
            others = [v for v in range(count) if v != source]
            views = [source, *(int(v) for v in rng.choice(others, self.num_views - 1, replace=False))]
        return [self.load_view(obj, v, grey) for v in views]

    def scene_views(self, scene: int) -> list[RawView]:
        grey = 0.5 if self.background == "random" else float(self.background)
        return [self.load_view(scene, v, grey) for v in range(len(self.objects[scene]))]

    def load_view(self, obj: int, view: int, grey: float) -> RenderedView:
        """Render `view` of object `obj` composited on the grey level `grey`."""
        record = self.objects[obj]
        try:
            with Image.open(record.images[view]) as pil:
                rgba = np.asarray(pil.convert("RGBA"), dtype=np.float32) / 255.0
        except OSError as err:
            raise DatasetError(f"cannot read render {record.images[view]}: {err}") from None
        alpha = rgba[..., 3:]
        rgb = rgba[..., :3] * alpha + grey * (1 - alpha)
        depth_path = record.depths[view]
        depth = np.load(depth_path).astype(np.float32) if depth_path is not None else None
        return RenderedView(image=Image.fromarray(np.round(rgb * 255).astype(np.uint8)), depth=depth,
                            intrinsics=record.intrinsics[view], world_from_cam=record.world_from_cam[view],
                            label=record.name, instance=record.images[view].stem, mask=alpha[..., 0] >= 0.5,
                            background=grey)
