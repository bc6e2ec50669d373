"""The base class of the dataset parsers: raw views in, `recon3r.data.sample.View` dicts out.

A parser implements `item_views(idx, rng)` (the raw views of one item, before cropping) and, for
whole-scene access, `scene_views(scene)`; `MultiViewDataset` crops them to the requested resolution
with exact intrinsics, augments them and builds the views of the one sample format
(`recon3r.data.sample`). Images keep their true layout: a portrait resolution (W < H) gives
portrait tensors; each resolution of the list is honoured exactly, so items drawn with one
resolution index always stack (see `ResolutionBatchSampler`).

Randomness (augmentation, frame jitter, caption noise) comes from a generator seeded by
(seed, epoch, idx, resolution index): an item is identical every time it is read in an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from recon3r.data.augment import (
    ImgNorm,
    Resolution,
    crop_resize,
    mask_background,
    normalize_resolutions,
    to_tensor,
)
from recon3r.data.mixing import Index, MixableDataset
from recon3r.data.sample import View, item_seed


@dataclass
class RawView:
    """A view as a loader reads it, before cropping and normalisation."""

    image: Image.Image  # RGB
    depth: np.ndarray | None  # (H, W) float32, 0 = invalid; None when `points` gives sparse depth
    intrinsics: np.ndarray  # (3, 3)
    world_from_cam: np.ndarray  # (4, 4) cam-to-world
    label: str  # scene
    instance: str  # view
    mask: np.ndarray | None = None  # (H, W) bool foreground
    caption: str = ""
    points: np.ndarray | None = None  # (N, 3) world points (SfM tracks): depth is splatted after cropping


class MultiViewDataset(MixableDataset):
    """Base of the loaders: resolution handling, crops, augmentation, and the view dict.

    Subclasses set `dataset_label` and implement `__len__`, `item_views(idx, rng)` (the raw views of
    one item) and, for whole-scene access, `num_scenes` and `scene_views(scene)`.

    Args:
        split: which split to read (loader-specific).
        resolution: 224, (W, H), or a list of (W, H) (aspect-ratio-aware training; see `augment`);
            None: each view at its stored size, uncropped.
        transform: photometric augmentation, `ColorJitter` (class or instance) or `ImgNorm` (none).
        aug_crop: random zoom jitter in pixels (DUSt3R's `aug_crop`), 0 = off.
        mask_bg: zero the depth outside the foreground mask: True, False or 'rand' (per item).
        seed: seed of every random choice (with the epoch and the index).
    """

    dataset_label = "dataset"

    def __init__(self, *, split: str | None = None, resolution: Any = 224, transform: Any = ImgNorm,
                 aug_crop: int = 0, mask_bg: bool | str = False, seed: int = 0):
        self.split = split
        self.resolutions = normalize_resolutions(resolution)
        self.transform = transform() if isinstance(transform, type) else transform
        if not callable(self.transform):
            raise TypeError(f"transform must be ColorJitter, ImgNorm or a callable, got {transform!r}")
        if not isinstance(aug_crop, (int, np.integer)) or aug_crop < 0:
            raise ValueError(f"aug_crop must be a non-negative integer, got {aug_crop!r}")
        self.aug_crop = int(aug_crop)
        if mask_bg not in (True, False, "rand"):
            raise ValueError(f"mask_bg must be True, False or 'rand', got {mask_bg!r}")
        self.mask_bg = mask_bg
        self.seed = int(seed)
        self.epoch = 0

    # -- subclass interface ------------------------------------------------------------------
    def item_views(self, idx: int, rng: np.random.Generator) -> list[RawView]:
        raise NotImplementedError

    @property
    def num_scenes(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} has no scene access")

    def scene_views(self, scene: int) -> list[RawView]:
        raise NotImplementedError(f"{type(self).__name__} has no scene access")

    # -- sampling ----------------------------------------------------------------------------
    def rng_for(self, idx: int, res: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, idx, res])

    def __getitem__(self, index: Index) -> list[View]:
        if isinstance(index, tuple):
            idx, res = int(index[0]), int(index[1])
        else:
            idx, res = int(index), 0
            if len(self.resolutions) > 1:
                raise IndexError(f"{type(self).__name__} has {len(self.resolutions)} resolutions: index it with "
                                 "(idx, resolution_index), e.g. through recon3r.data.ResolutionBatchSampler")
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} out of range for {len(self)} items")
        if not 0 <= res < len(self.resolutions):
            raise IndexError(f"resolution index {res} out of range for {len(self.resolutions)} resolutions")
        rng = self.rng_for(idx, res)
        raws = self.item_views(idx, rng)
        mask_bg = self.mask_bg is True or (self.mask_bg == "rand" and bool(rng.integers(2)))
        seed = item_seed(self.seed, self.epoch, idx, res)
        return [self.make_view(raw, self.resolutions[res], rng, augment=True, mask_bg=mask_bg, idx=(idx, res, v),
                               rng_seed=seed) for v, raw in enumerate(raws)]

    def scene(self, scene: int, resolution: Resolution | None = None) -> list[View]:
        """Every view of one scene (sequence order), without augmentation.

        `resolution` (W, H) crops and resizes like training; None keeps each view's stored size.
        """
        if not 0 <= scene < self.num_scenes:
            raise IndexError(f"scene {scene} out of range for {self.num_scenes} scenes")
        rng = np.random.default_rng(0)  # unused: no augmentation here
        mask_bg = self.mask_bg is True
        return [self.make_view(raw, resolution, rng, augment=False, mask_bg=mask_bg, idx=(scene, -1, v))
                for v, raw in enumerate(self.scene_views(scene))]

    # -- one view ----------------------------------------------------------------------------
    def make_view(self, raw: RawView, resolution: Resolution | None, rng: np.random.Generator, *, augment: bool,
                  mask_bg: bool, idx: tuple[int, int, int], rng_seed: int = 0) -> View:
        """Crop/resize a raw view, augment it, and build its `View` dict."""
        width, height = raw.image.size
        depth = np.zeros((height, width), np.float32) if raw.depth is None else np.asarray(raw.depth, np.float32)
        mask = raw.mask
        image, intrinsics = raw.image, np.asarray(raw.intrinsics, dtype=np.float64)
        if resolution is not None:
            image, intrinsics, (depth, mask) = crop_resize(image, intrinsics, resolution, depth, mask, rng=rng,
                                                           aug_crop=self.aug_crop if augment else 0)
        if augment:
            image = self.transform(image, rng)
        pose = np.asarray(raw.world_from_cam, dtype=np.float64)
        width, height = image.size
        if raw.points is not None:
            depth = splat_depth(raw.points, intrinsics, pose, (height, width))
        if mask_bg and mask is not None:
            depth = mask_background(depth, mask)
        depth = np.ascontiguousarray(depth, dtype=np.float32)
        pts3d = depth_to_world_points_np(depth, intrinsics, pose)
        valid = (depth > 0) & np.isfinite(pts3d).all(axis=-1)
        object_mask = np.ones((height, width), bool) if mask is None else np.asarray(mask, dtype=bool)
        return {
            "img": to_tensor(image),
            "true_shape": np.array([height, width], dtype=np.int32),
            "depthmap": depth,
            "camera_intrinsics": intrinsics.astype(np.float32),
            "camera_pose": pose.astype(np.float32),
            "pts3d": pts3d.astype(np.float32),
            "valid_mask": valid,
            "object_mask": object_mask,
            "dataset": self.dataset_label,
            "label": raw.label,
            "instance": raw.instance,
            "idx": idx,
            "caption": raw.caption or "",
            "rng_seed": int(rng_seed),
        }

    def __repr__(self) -> str:
        res = ";".join("native" if r is None else f"{r[0]}x{r[1]}" for r in self.resolutions)
        return f"{type(self).__name__}({len(self)} items, split={self.split!r}, resolutions=[{res}])"


def splat_depth(points: np.ndarray, intrinsics: np.ndarray, world_from_cam: np.ndarray, shape: tuple[int, int]
                ) -> np.ndarray:
    """Sparse (H, W) float32 z-depth from world points (N, 3): each pixel keeps its nearest point, 0 elsewhere."""
    height, width = shape
    pose = np.asarray(world_from_cam, dtype=np.float64)
    local = (np.asarray(points, dtype=np.float64).reshape(-1, 3) - pose[:3, 3]) @ pose[:3, :3]
    local = local[local[:, 2] > 1e-6]
    pix = local @ np.asarray(intrinsics, dtype=np.float64).T
    cols = np.round(pix[:, 0] / pix[:, 2]).astype(np.int64)
    rows = np.round(pix[:, 1] / pix[:, 2]).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    depth = np.full(height * width, np.inf)
    np.minimum.at(depth, rows[inside] * width + cols[inside], local[inside, 2])
    return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32).reshape(height, width)


def depth_to_world_points_np(depth: np.ndarray, intrinsics: np.ndarray, world_from_cam: np.ndarray) -> np.ndarray:
    """(H, W, 3) world points from z-depth (H, W): `recon3r.geometry.depth_to_world_points` in numpy.

    The loaders run in DataLoader workers where small torch ops are slow; this is the same formula
    (pixel centres at integer coordinates, OpenCV axes), in float64.
    """
    height, width = depth.shape
    k = np.asarray(intrinsics, dtype=np.float64)
    xs = (np.arange(width, dtype=np.float64) - k[0, 2]) / k[0, 0]
    ys = (np.arange(height, dtype=np.float64) - k[1, 2]) / k[1, 1]
    z = depth.astype(np.float64)
    cam = np.stack([xs[None, :] * z, ys[:, None] * z, z], axis=-1)
    pose = np.asarray(world_from_cam, dtype=np.float64)
    return cam @ pose[:3, :3].T + pose[:3, 3]
