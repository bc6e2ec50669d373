"""The one sample format of recon3r: a multi-view sample is a list of `View` dicts.

Every dataset parser (procedural, the recon3r on-disk format, Co3d, MegaScenes, rendered objects, ...)
yields these; each system's task (`recon3r.tasks`) has a collator that turns a list of samples into
its batches. A pair is a sample of two views, a stream a sample of K consecutive views, an object
orbit a sample of K views with object masks, a depth-to-3D sample a single view.

Dicts rather than dataclasses so that torch's default collate batches them (strings become lists)
and the reference DUSt3R losses read their keys unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np

from recon3r.errors import ConfigError


class View(TypedDict):
    """One view of a sample (H, W = the view's resolution; images keep their true layout).

    img                (3, H, W) float32 tensor in [-1, 1]
    true_shape         (2,) int32 (H, W)
    depthmap           (H, W) float32 z-depth, 0 where unknown
    camera_intrinsics  (3, 3) float32 pixels of this image, pixel centres at integer coordinates
    camera_pose        (4, 4) float32 cam-to-world, OpenCV axes (x right, y down, z forward)
    pts3d              (H, W, 3) float32 world points (depth unprojected with K and the pose)
    valid_mask         (H, W) bool: depth > 0 and finite points
    object_mask        (H, W) bool foreground of an object-centric view; all True when unknown
    caption            str, "" when the view has none
    dataset, label, instance   str: dataset name, scene, view
    idx                (item index, resolution index, view number)
    rng_seed           int: a seed for the task's own random choices on this item (distortions,
                       ray subsets), a function of (dataset seed, epoch, item), same for every view
    """

    img: Any
    true_shape: np.ndarray
    depthmap: np.ndarray
    camera_intrinsics: np.ndarray
    camera_pose: np.ndarray
    pts3d: np.ndarray
    valid_mask: np.ndarray
    object_mask: np.ndarray
    caption: str
    dataset: str
    label: str
    instance: str
    idx: tuple[int, int, int]
    rng_seed: int


Sample = list[View]

VIEW_KEYS = tuple(View.__annotations__)


def check_sample(sample: Any, source: str = "dataset", num_views: int | None = None, min_views: int = 1) -> None:
    """Raise ConfigError naming `source` when `sample` is not a list of `View` dicts of the wanted size.

    `num_views`: the exact number of views a task needs (None: any number >= `min_views`).
    """
    if not isinstance(sample, Sequence) or isinstance(sample, (str, bytes)) or not sample:
        raise ConfigError(f"{source}: a sample must be a non-empty list of view dicts, got {type(sample).__name__}")
    count = len(sample)
    if num_views is not None and count != num_views:
        raise ConfigError(f"{source} gives samples of {count} view(s); this task needs {num_views} "
                          f"(set num_views={num_views} on the dataset)")
    if count < min_views:
        raise ConfigError(f"{source} gives samples of {count} view(s); this task needs at least {min_views} "
                          f"(set num_views >= {min_views} on the dataset)")
    for k, view in enumerate(sample):
        missing = [key for key in VIEW_KEYS if not isinstance(view, dict) or key not in view]
        if missing:
            raise ConfigError(f"{source}: view {k} of a sample lacks {', '.join(missing)}")


def item_seed(seed: int, epoch: int, idx: int, resolution: int) -> int:
    """The `rng_seed` of an item: independent of the dataset's own augmentation stream."""
    return int(np.random.default_rng([int(seed), int(epoch), int(idx), int(resolution), 0x5EED]).integers(2**31))
