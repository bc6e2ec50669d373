"""Loaders for the recon3r multi-view format: `MultiView` (any folder) and `Procedural` (also on the fly).

Items, by `num_views`:
- 2 (pairs): ordered pairs (i, j), i ≠ j, whose overlap is at least `min_overlap` both ways
  (scenes without an overlap matrix: every pair, or |i - j| <= `max_gap` in sequences);
- k > 2: windows of k consecutive views (sequence order), for multi-view and streaming models;
- None: one item per scene with all its views.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from recon3r.data.base import MultiViewDataset, RawView
from recon3r.data.format import DatasetError, SceneRecord, read_dataset, read_scene


@dataclass
class _SceneInfo:
    name: str
    kind: str
    num_views: int
    overlap: np.ndarray | None


class MultiView(MultiViewDataset):
    """Any folder in the recon3r multi-view format (`recon3r.data.format`).

    Args:
        ROOT: the dataset folder (holding dataset.json).
        split: a split listed in dataset.json, or None for every scene.
        num_views: views per item: 2 (pairs), k > 2 (consecutive windows) or None (whole scenes).
        min_overlap: pairs need at least this overlap both ways (when scenes store an overlap matrix).
        max_gap: for sequences without an overlap matrix, the largest index gap of a pair.
        Other keyword arguments: see `MultiViewDataset` (resolution, transform, aug_crop, mask_bg, seed).
    """

    dataset_label = "MultiView"

    def __init__(self, ROOT: str | None = None, *, split: str | None = None, num_views: int | None = 2,
                 min_overlap: float = 0.15, max_gap: int = 5, **kwargs: Any):
        super().__init__(split=split, **kwargs)
        if num_views is not None and (not isinstance(num_views, int) or num_views < 1):
            raise ValueError(f"num_views must be a positive integer or None, got {num_views!r}")
        self.num_views, self.min_overlap, self.max_gap = num_views, float(min_overlap), int(max_gap)
        self.ROOT = ROOT
        self.records: list[SceneRecord] = []
        if ROOT is not None:
            index = read_dataset(ROOT)
            self.records = [read_scene(Path(ROOT) / name) for name in index.scene_names(split)]
            self._set_scenes([_SceneInfo(r.name, r.kind, len(r), r.overlap) for r in self.records])
        elif type(self) is MultiView:
            raise DatasetError("MultiView needs ROOT, the folder of a recon3r multi-view dataset")

    def _set_scenes(self, scenes: list[_SceneInfo]) -> None:
        self.scenes = scenes
        self.items: list[tuple[int, tuple[int, ...]]] = [
            (s, views) for s, info in enumerate(scenes) for views in self._view_tuples(info)
        ]

    def _view_tuples(self, info: _SceneInfo) -> list[tuple[int, ...]]:
        n = info.num_views
        if self.num_views is None:
            return [tuple(range(n))] if n else []
        if self.num_views == 1:
            return [(i,) for i in range(n)]
        if self.num_views > 2:
            return [tuple(range(s, s + self.num_views)) for s in range(n - self.num_views + 1)]
        pairs = []
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                if info.overlap is not None:
                    ok = min(info.overlap[i, j], info.overlap[j, i]) >= self.min_overlap
                else:
                    ok = info.kind != "sequence" or abs(i - j) <= self.max_gap
                if ok:
                    pairs.append((i, j))
        return pairs

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_scenes(self) -> int:
        return len(self.scenes)

    def scene_name(self, scene: int) -> str:
        return self.scenes[scene].name

    def item_views(self, idx: int, rng: np.random.Generator) -> list[RawView]:
        scene, views = self.items[idx]
        return [self.load_view(scene, v, rng) for v in views]

    def scene_views(self, scene: int) -> list[RawView]:
        return [self.load_view(scene, v, None) for v in range(self.scenes[scene].num_views)]

    def load_view(self, scene: int, view: int, rng: np.random.Generator | None) -> RawView:
        """The raw view `view` of scene `scene` (rng: item randomness, None for plain access)."""
        record = self.records[scene]
        entry = record.views[view]
        depth = record.depth(view)
        if depth is None:
            raise DatasetError(f"view {entry.name} of {record.root} has no depth map; training needs one")
        return RawView(
            image=Image.fromarray(record.image(view)), depth=depth, intrinsics=entry.intrinsics,
            world_from_cam=entry.world_from_cam, label=record.name, instance=entry.name, mask=record.mask(view),
            caption=entry.caption or "",
        )


def split_seed(seed: int, split: str | None) -> int:
    """Generator seed of a procedural split: `seed` itself for None / 'train', a distinct one otherwise."""
    if split in (None, "train"):
        return int(seed)
    return (int(seed) + zlib.crc32(split.encode("utf-8"))) % 2**32


class Procedural(MultiView):
    """Procedural scenes with exact ground truth: read from ROOT, or rendered on the fly when ROOT is None.

    On the fly, scene i is `generate_scene(split_seed(scene_seed, split), i, kind, views, size)`,
    exactly what `recon3r data make-procedural --seed S [--split NAME]` writes, so both modes give
    the same samples. Splits other than 'train' are disjoint scene streams (held-out sets).

    Captions are EXIF-style text synthesised from the true intrinsics ("Make: Procedural, Model:
    PX-APSC, FocalLength: 18.3 mm, FocalLengthIn35mmFilm: 27"). `caption_noise` multiplies the
    focal length in the caption by exp(σ·N(0, 1)); `caption_dropout` is the probability that a
    view's caption is empty (missing). Both only apply to training items, not to `scene()`.

    Args:
        ROOT: folder written by make-procedural, or None to render on the fly.
        scenes, views, kind, size: on the fly only: number of scenes, views per scene, camera path
            (`procedural.KINDS`: 'pairs', 'sequence', 'orbit', 'object', 'forward', 'indoor', 'isolated': one object alone, depth only on it) and image
            size (see `procedural.image_size`).
        scene_seed: generator seed (on the fly).
        textures, photometric: on the fly only: sim-to-real options of `procedural.generate_scene`
            ('photo' textures from the installed wallpaper packages; a simulated camera per view).
        Other keyword arguments: see `MultiView`.
    """

    dataset_label = "Procedural"

    def __init__(self, ROOT: str | None = None, *, scenes: int = 100, views: int = 10, kind: str = "pairs",
                 size: int = 224, scene_seed: int = 0, caption_noise: float = 0.0, caption_dropout: float = 0.0,
                 cache_views: int = 16, textures: str = "procedural", photometric: bool = False, **kwargs: Any):
        super().__init__(ROOT, **kwargs)
        if caption_noise < 0 or not 0 <= caption_dropout <= 1:
            raise ValueError(f"need caption_noise >= 0 and 0 <= caption_dropout <= 1, got {caption_noise}, "
                             f"{caption_dropout}")
        self.caption_noise, self.caption_dropout = float(caption_noise), float(caption_dropout)
        self.generated: list = []
        self._cache: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._cache_size = int(cache_views)
        if ROOT is None:
            from recon3r.data.procedural import generate_scene, overlap_matrix

            if scenes < 1 or views < 1:
                raise ValueError(f"need scenes >= 1 and views >= 1, got {scenes}, {views}")
            seed = split_seed(scene_seed, self.split)
            self.generated = [generate_scene(seed, i, kind, views, size, textures=textures, photometric=photometric)
                              for i in range(scenes)]
            self._set_scenes([_SceneInfo(g.name, g.kind, views, overlap_matrix(g.spec, g.cameras))
                              for g in self.generated])

    def load_view(self, scene: int, view: int, rng: np.random.Generator | None) -> RawView:
        if not self.generated:
            raw = super().load_view(scene, view, rng)
            meta = self.records[scene].views[view].meta
            size = (self.records[scene].views[view].width, self.records[scene].views[view].height)
            body = (meta.get("camera_model"), meta.get("sensor_mm"))
        else:
            generated = self.generated[scene]
            camera = generated.cameras[view]
            rendered = self._render(scene, view)
            raw = RawView(image=Image.fromarray(rendered.rgb), depth=rendered.depth, intrinsics=camera.intrinsics,
                          world_from_cam=camera.world_from_cam, label=generated.name, instance=f"{view:03d}",
                          mask=rendered.foreground, caption=generated.caption(view))
            size, body = (camera.width, camera.height), (camera.model, camera.sensor_mm)
        if rng is not None:
            raw.caption = self._noisy_caption(raw, size, body, rng)
        return raw

    def _noisy_caption(self, raw: RawView, size: tuple[int, int], body: tuple, rng: np.random.Generator) -> str:
        from recon3r.data.procedural import caption_from_intrinsics

        # Draw both numbers every time so that the random stream does not depend on the settings' branches.
        scale = float(np.exp(self.caption_noise * rng.standard_normal()))
        drop = rng.uniform() < self.caption_dropout
        if drop:
            return ""
        if self.caption_noise > 0 and body[0] is not None and body[1] is not None:
            return caption_from_intrinsics(raw.intrinsics, size[0], size[1], str(body[0]), float(body[1]), scale)
        return raw.caption

    def _render(self, scene: int, view: int) -> Any:
        key = (scene, view)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        rendered = self.generated[scene].render(view)
        self._cache[key] = rendered
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rendered
