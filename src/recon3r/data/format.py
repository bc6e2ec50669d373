"""The recon3r multi-view format: one folder of processed scenes with images, depth, cameras and captions.

Layout (all paths relative; names are free-form, shown here as the writer makes them)::

    ROOT/dataset.json                {"format": "recon3r-multiview", "version": 1,
                                      "scenes": ["scene_00000", ...],
                                      "splits": {"train": [...], "test": [...]}   (optional),
                                      "meta": {...}                               (optional)}
    ROOT/<scene>/scene.json          see below
    ROOT/<scene>/images/<view>.png   8-bit RGB (the reader accepts any Pillow image named in scene.json)
    ROOT/<scene>/depth/<view>.npy    float32 (H, W) z-depth in metres; 0 or non-finite = invalid
    ROOT/<scene>/masks/<view>.png    optional 8-bit foreground mask, > 127 = foreground

`scene.json`::

    {"format": "recon3r-multiview", "version": 1, "name": "scene_00000",
     "kind": "pairs" | "sequence" | "orbit" | "unordered",   (sequence: views are in temporal order)
     "views": [{"name": "000", "image": "images/000.png", "depth": "depth/000.npy" or null,
                "mask": "masks/000.png" or null, "width": W, "height": H,
                "intrinsics": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],
                "world_from_cam": [[r00, r01, r02, tx], [...], [...], [0, 0, 0, 1]],
                "caption": "free text or EXIF-style text" or null,
                "meta": {...}}, ...],
     "overlap": V×V list or null,   overlap[i][j] = fraction of view i's valid pixels that view j sees
     "meta": {...}}

Conventions: intrinsics are in pixels of the stored image, with pixel centres at integer
coordinates; `world_from_cam` is cam-to-world with OpenCV axes (x right, y down, z forward);
depth is the camera-frame z (not the ray length) in the scene's unit (metres for procedural
scenes). Numbers are written with Python's shortest round-trip repr, so float64 values read back
exactly, and no file carries a timestamp: the same content gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from recon3r.errors import Recon3rError

FORMAT_NAME = "recon3r-multiview"
FORMAT_VERSION = 1
SCENE_KINDS = ("pairs", "sequence", "orbit", "unordered")


class DatasetError(Recon3rError):
    """A dataset folder or file is missing or malformed (the message names the path)."""


@dataclass
class ViewRecord:
    """One view of a scene as listed in scene.json (paths relative to the scene folder)."""

    name: str
    image: str
    width: int
    height: int
    intrinsics: np.ndarray  # (3, 3) float64
    world_from_cam: np.ndarray  # (4, 4) float64
    depth: str | None = None
    mask: str | None = None
    caption: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SceneRecord:
    """A scene folder: its views and cameras, with loaders for the per-view arrays."""

    root: Path  # the scene folder
    name: str
    kind: str
    views: list[ViewRecord]
    overlap: np.ndarray | None = None  # (V, V) float64
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.views)

    @property
    def intrinsics(self) -> np.ndarray:
        """(V, 3, 3) float64 intrinsics at each view's stored resolution."""
        return np.stack([v.intrinsics for v in self.views])

    @property
    def world_from_cam(self) -> np.ndarray:
        """(V, 4, 4) float64 cam-to-world poses."""
        return np.stack([v.world_from_cam for v in self.views])

    def image(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB of view `index`."""
        view = self.views[index]
        path = self.root / view.image
        try:
            with Image.open(path) as img:
                rgb = np.asarray(img.convert("RGB"))
        except FileNotFoundError:
            raise DatasetError(f"missing image {path} (listed in {self.root / 'scene.json'})") from None
        except (UnidentifiedImageError, OSError) as err:
            raise DatasetError(f"cannot read image {path}: {err}") from None
        _check_shape(path, rgb.shape[:2], view)
        return rgb

    def depth(self, index: int) -> np.ndarray | None:
        """(H, W) float32 z-depth of view `index` (0 where invalid), or None if the view has none."""
        view = self.views[index]
        if view.depth is None:
            return None
        path = self.root / view.depth
        try:
            depth = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DatasetError(f"missing depth map {path} (listed in {self.root / 'scene.json'})") from None
        except ValueError as err:
            raise DatasetError(f"cannot read depth map {path}: {err}") from None
        if depth.ndim != 2:
            raise DatasetError(f"depth map {path} must be 2-D (H, W), got shape {depth.shape}")
        _check_shape(path, depth.shape, view)
        depth = depth.astype(np.float32, copy=False)
        return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0.0))

    def mask(self, index: int) -> np.ndarray | None:
        """(H, W) bool foreground mask of view `index`, or None if the view has none."""
        view = self.views[index]
        if view.mask is None:
            return None
        path = self.root / view.mask
        try:
            with Image.open(path) as img:
                mask = np.asarray(img.convert("L")) > 127
        except FileNotFoundError:
            raise DatasetError(f"missing mask {path} (listed in {self.root / 'scene.json'})") from None
        except (UnidentifiedImageError, OSError) as err:
            raise DatasetError(f"cannot read mask {path}: {err}") from None
        _check_shape(path, mask.shape, view)
        return mask


@dataclass
class DatasetIndex:
    """The content of dataset.json."""

    root: Path
    scenes: list[str]
    splits: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def scene_names(self, split: str | None = None) -> list[str]:
        """All scenes, or those of one split (an error names the file if the split is unknown)."""
        if split is None:
            return list(self.scenes)
        if split not in self.splits:
            known = ", ".join(sorted(self.splits)) or "none"
            raise DatasetError(f"{self.root / 'dataset.json'} has no split {split!r} (splits: {known})")
        return list(self.splits[split])


def read_dataset(root: str | Path) -> DatasetIndex:
    """Read ROOT/dataset.json."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    data = _read_json(root / "dataset.json", "a recon3r dataset folder (write one with `recon3r data make-procedural`)")
    _check_header(data, root / "dataset.json")
    scenes = data.get("scenes")
    if not isinstance(scenes, list) or not all(isinstance(s, str) for s in scenes):
        raise DatasetError(f"{root / 'dataset.json'}: 'scenes' must be a list of folder names")
    splits = data.get("splits") or {}
    if not isinstance(splits, dict):
        raise DatasetError(f"{root / 'dataset.json'}: 'splits' must map split names to lists of scenes")
    return DatasetIndex(root=root, scenes=scenes, splits={k: list(v) for k, v in splits.items()},
                        meta=dict(data.get("meta") or {}))


def read_scene(path: str | Path) -> SceneRecord:
    """Read <scene>/scene.json (`path` is the scene folder)."""
    path = Path(path)
    file = path / "scene.json"
    data = _read_json(file, "a scene folder of a recon3r dataset")
    _check_header(data, file)
    try:
        views = [
            ViewRecord(
                name=str(v["name"]), image=str(v["image"]), width=int(v["width"]), height=int(v["height"]),
                intrinsics=_matrix(v["intrinsics"], (3, 3), file, "intrinsics"),
                world_from_cam=_matrix(v["world_from_cam"], (4, 4), file, "world_from_cam"),
                depth=v.get("depth"), mask=v.get("mask"), caption=v.get("caption"), meta=dict(v.get("meta") or {}),
            )
            for v in data["views"]
        ]
    except (KeyError, TypeError) as err:
        raise DatasetError(f"{file}: malformed view entry (missing or bad field {err})") from None
    overlap = data.get("overlap")
    if overlap is not None:
        overlap = np.asarray(overlap, dtype=np.float64)
        if overlap.shape != (len(views), len(views)):
            raise DatasetError(f"{file}: 'overlap' must be {len(views)}×{len(views)}, got shape {overlap.shape}")
    kind = data.get("kind", "unordered")
    if kind not in SCENE_KINDS:
        raise DatasetError(f"{file}: unknown kind {kind!r}; expected one of {SCENE_KINDS}")
    return SceneRecord(root=path, name=str(data.get("name", path.name)), kind=kind, views=views, overlap=overlap,
                       meta=dict(data.get("meta") or {}))


def write_scene(
    path: str | Path,
    images: Sequence[np.ndarray],
    intrinsics: np.ndarray | Sequence[np.ndarray],
    world_from_cam: np.ndarray | Sequence[np.ndarray],
    depths: Sequence[np.ndarray] | None = None,
    masks: Sequence[np.ndarray] | None = None,
    captions: Sequence[str | None] | None = None,
    *,
    names: Sequence[str] | None = None,
    kind: str = "unordered",
    overlap: np.ndarray | None = None,
    view_meta: Sequence[Mapping[str, Any]] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> SceneRecord:
    """Write one scene folder: images (H, W, 3) uint8, K (3, 3), cam-to-world (4, 4), depth (H, W) metres."""
    path = Path(path)
    count = len(images)
    names = list(names) if names is not None else [f"{i:03d}" for i in range(count)]
    for label, seq in (("intrinsics", intrinsics), ("world_from_cam", world_from_cam), ("depths", depths),
                       ("masks", masks), ("captions", captions), ("names", names), ("view_meta", view_meta)):
        if seq is not None and len(seq) != count:
            raise ValueError(f"write_scene: {count} images but {len(seq)} {label}")
    if kind not in SCENE_KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {SCENE_KINDS}")
    (path / "images").mkdir(parents=True, exist_ok=True)
    views = []
    for i, name in enumerate(names):
        rgb = np.asarray(images[i])
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"image {name} must be (H, W, 3) uint8, got {rgb.dtype} {rgb.shape}")
        height, width = rgb.shape[:2]
        Image.fromarray(rgb).save(path / "images" / f"{name}.png", optimize=False)
        entry: dict[str, Any] = {"name": name, "image": f"images/{name}.png", "depth": None, "mask": None,
                                 "width": width, "height": height}
        if depths is not None:
            depth = np.asarray(depths[i], dtype=np.float32)
            if depth.shape != (height, width):
                raise ValueError(f"depth of view {name} is {depth.shape}, image is {(height, width)}")
            (path / "depth").mkdir(exist_ok=True)
            np.save(path / "depth" / f"{name}.npy", depth, allow_pickle=False)
            entry["depth"] = f"depth/{name}.npy"
        if masks is not None and masks[i] is not None:
            mask = np.asarray(masks[i], dtype=bool)
            if mask.shape != (height, width):
                raise ValueError(f"mask of view {name} is {mask.shape}, image is {(height, width)}")
            (path / "masks").mkdir(exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255).save(path / "masks" / f"{name}.png", optimize=False)
            entry["mask"] = f"masks/{name}.png"
        entry["intrinsics"] = np.asarray(intrinsics[i], dtype=np.float64).tolist()
        entry["world_from_cam"] = np.asarray(world_from_cam[i], dtype=np.float64).tolist()
        entry["caption"] = captions[i] if captions is not None else None
        entry["meta"] = dict(view_meta[i]) if view_meta is not None else {}
        views.append(entry)
    data = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "name": path.name, "kind": kind, "views": views,
            "overlap": np.asarray(overlap, dtype=np.float64).tolist() if overlap is not None else None,
            "meta": dict(meta or {})}
    _write_json(path / "scene.json", data)
    return read_scene(path)


def write_dataset(root: str | Path, scenes: Sequence[str], splits: Mapping[str, Sequence[str]] | None = None,
                  meta: Mapping[str, Any] | None = None) -> DatasetIndex:
    """Write ROOT/dataset.json listing scene folders (which must already exist)."""
    root = Path(root)
    for name in scenes:
        if not (root / name / "scene.json").is_file():
            raise DatasetError(f"scene {name!r} has no {root / name / 'scene.json'}")
    for split, members in (splits or {}).items():
        unknown = sorted(set(members) - set(scenes))
        if unknown:
            raise ValueError(f"split {split!r} lists scenes not in the dataset: {unknown[:5]}")
    data = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "scenes": list(scenes),
            "splits": {k: list(v) for k, v in (splits or {}).items()}, "meta": dict(meta or {})}
    root.mkdir(parents=True, exist_ok=True)
    _write_json(root / "dataset.json", data)
    return read_dataset(root)


def _read_json(path: Path, what: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"missing {path}: {path.parent} is not {what}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(f"malformed JSON in {path}: {err}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _check_header(data: dict, path: Path) -> None:
    if data.get("format") != FORMAT_NAME:
        raise DatasetError(f"{path} is not a {FORMAT_NAME} file (format = {data.get('format')!r})")
    if data.get("version") != FORMAT_VERSION:
        raise DatasetError(f"{path} has format version {data.get('version')!r}; this recon3r reads {FORMAT_VERSION}")


def _matrix(value: Any, shape: tuple[int, int], path: Path, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: {name} must be a {shape[0]}×{shape[1]} list of numbers") from None
    if array.shape != shape or not np.isfinite(array).all():
        raise DatasetError(f"{path}: {name} must be a finite {shape[0]}×{shape[1]} matrix, got {array.tolist()}")
    return array


def _check_shape(path: Path, shape: tuple[int, ...], view: ViewRecord) -> None:
    if tuple(shape) != (view.height, view.width):
        raise DatasetError(f"{path} is {shape[1]}×{shape[0]} but scene.json says {view.width}×{view.height}")
