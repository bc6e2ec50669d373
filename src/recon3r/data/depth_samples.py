"""`DepthSamples`: the depth maps `recon3r data depth3d` writes, as one-view samples of the shared format.

ROOT holds `depths/NNNNNN.npz` (keys `depth`, `valid`, optional `image`, `world_from_cam`) and
`intrinsics/NNNNNN.npy` (see `recon3r.data.prepare.depth3d`); `dataset.json`, when present, names
each sample's dataset and scene. Every sample is one view: its depth (0 where `valid` is False),
its intrinsics, its colour (mid grey when the dataset has none) and its pose (identity when
unknown). With `resolution=None` (the default) maps keep their stored size; a resolution crops
and resizes them like any loader (exact intrinsics, nearest-neighbour depth).

Splits are a deterministic split of the one folder (Train-3D's `--train_split`): the sorted
sample names are shuffled with `split_seed`, the first round(train_split · N) are 'train' and
the rest 'test' ('val' is the same as 'test'); None reads every sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from recon3r.data.base import MultiViewDataset, RawView
from recon3r.data.format import DatasetError

SPLITS = ("train", "test", "val")


def split_names(names: list[str], split: str | None, train_split: float, seed: int = 0) -> list[str]:
    """The names of `split` among `names` (see the module docstring); sorted."""
    if split is None:
        return sorted(names)
    if split not in SPLITS:
        raise DatasetError(f"DepthSamples split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    if not 0 < train_split <= 1:
        raise DatasetError(f"DepthSamples train_split must be in (0, 1], got {train_split}")
    order = [sorted(names)[i] for i in np.random.default_rng(seed).permutation(len(names))]
    cut = int(round(train_split * len(order)))
    return sorted(order[:cut] if split == "train" else order[cut:])


class DepthSamples(MultiViewDataset):
    """Depth maps and intrinsics from `recon3r data depth3d` (module docstring).

    Args:
        ROOT: the folder `recon3r data depth3d --out` wrote.
        split: 'train', 'test' ('val'), or None for every sample.
        train_split: fraction of the samples in 'train' (default 0.9, Train-3D's).
        split_seed: seed of the shuffle that splits the folder.
        resolution: None (stored size) or as `MultiViewDataset`; other keywords: see `MultiViewDataset`.
    """

    dataset_label = "DepthSamples"

    def __init__(self, ROOT: str | None = None, *, split: str | None = "train", train_split: float = 0.9,
                 split_seed: int = 0, resolution: Any = None, **kwargs: Any):
        super().__init__(split=split, resolution=resolution, **kwargs)
        if ROOT is None:
            raise DatasetError("DepthSamples needs ROOT, a folder written by `recon3r data depth3d`")
        self.ROOT = Path(ROOT)
        depths = self.ROOT / "depths"
        if not depths.is_dir():
            raise DatasetError(f"DepthSamples: {depths} is missing; write ROOT with `recon3r data depth3d --out ROOT`")
        names = [p.stem for p in depths.glob("*.npz")]
        if not names:
            raise DatasetError(f"DepthSamples: no depth map (*.npz) in {depths}")
        self.train_split = float(train_split)
        self.names = split_names(names, split, self.train_split, split_seed)
        self.scenes_of = self._scene_names()

    def _scene_names(self) -> dict[str, str]:
        try:
            meta = json.loads((self.ROOT / "dataset.json").read_text(encoding="utf-8"))
            return {s["file"]: f"{s['dataset']}/{s['scene']}" for s in meta.get("samples", [])}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_scenes(self) -> int:
        return len(self.names)  # every sample is its own one-view scene

    def scene_views(self, scene: int) -> list[RawView]:
        return [self.load(scene)]

    def item_views(self, idx: int, rng: np.random.Generator) -> list[RawView]:
        return [self.load(idx)]

    def load(self, index: int) -> RawView:
        """The raw view of sample `index` of this split; DatasetError naming a broken file."""
        name = self.names[index]
        npz, npy = self.ROOT / "depths" / f"{name}.npz", self.ROOT / "intrinsics" / f"{name}.npy"
        try:
            with np.load(npz) as data:
                depth = np.asarray(data["depth"], dtype=np.float32)
                valid = np.asarray(data["valid"], dtype=bool) if "valid" in data.files else depth > 0
                image = np.asarray(data["image"], dtype=np.uint8) if "image" in data.files else None
                pose = np.asarray(data["world_from_cam"], np.float64) if "world_from_cam" in data.files else np.eye(4)
            intrinsics = np.load(npy).astype(np.float64)
        except (OSError, ValueError, KeyError) as err:
            raise DatasetError(f"DepthSamples: cannot read sample {name} of {self.ROOT} ({err})") from None
        if depth.ndim != 2 or valid.shape != depth.shape or intrinsics.shape != (3, 3):
            raise DatasetError(f"DepthSamples: sample {name} of {self.ROOT} has depth {depth.shape}, valid "
                               f"{valid.shape}, intrinsics {intrinsics.shape}; expected (H, W), (H, W), (3, 3)")
        depth = np.where(valid & np.isfinite(depth), depth, 0.0).astype(np.float32)
        if image is None or image.shape[:2] != depth.shape:
            image = np.full((*depth.shape, 3), 128, np.uint8)
        return RawView(image=Image.fromarray(image), depth=depth, intrinsics=intrinsics, world_from_cam=pose,
                       label=self.scenes_of.get(name, "depth3d"), instance=name)
