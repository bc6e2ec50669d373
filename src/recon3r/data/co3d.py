"""Co3d v2 as processed by DUSt3R's `datasets_preprocess/preprocess_co3d.py`.

Layout read (ROOT = the preprocessing's output_dir)::

    ROOT/selected_seqs_{split}.json                              {category: {sequence: [frame, ...]}}
    ROOT/<category>/<sequence>/images/frame{frame:06d}.jpg       RGB
    ROOT/<category>/<sequence>/images/frame{frame:06d}.npz       camera_intrinsics (3, 3), camera_pose
                                                                 (4, 4, cam-to-world, OpenCV), maximum_depth
    ROOT/<category>/<sequence>/depths/frame{frame:06d}.jpg.geometric.png   uint16: depth = v / 65535 · maximum_depth
    ROOT/<category>/<sequence>/masks/frame{frame:06d}.png        uint8 object mask (> 0.1 · 255 = object)

Pairs follow the reference: for each sequence, frame-list positions (i, j) with 0 < j - i <= 30 and
j - i a multiple of 5, each jittered by -4..4 positions and clamped to the sequence; a view whose
depth is empty after cropping is replaced by the next frame of the sequence.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from recon3r.data.base import MultiViewDataset, RawView
from recon3r.data.format import DatasetError

_COMBINATIONS = [(i, j) for i, j in itertools.combinations(range(100), 2) if 0 < abs(i - j) <= 30 and abs(i - j) % 5 == 0]


class Co3d(MultiViewDataset):
    """Co3d v2 pairs (DUSt3R's processed layout, see the module docstring).

    Args:
        ROOT: the processed folder.
        split: 'train' or 'test' (reads selected_seqs_{split}.json).
        mask_bg: zero the depth outside the object mask: True (the reference's default), False or 'rand'.
        Other keyword arguments: see `MultiViewDataset`.
    """

    dataset_label = "Co3d_v2"

    def __init__(self, ROOT: str, *, split: str = "train", mask_bg: bool | str = True, **kwargs: Any):
        super().__init__(split=split, mask_bg=mask_bg, **kwargs)
        self.ROOT = root = Path(ROOT)
        if not root.is_dir():
            raise DatasetError(f"Co3d: dataset folder {root} does not exist")
        listing = root / f"selected_seqs_{split}.json"
        try:
            data = json.loads(listing.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DatasetError(f"Co3d: missing {listing} (run DUSt3R's preprocess_co3d.py with --output_dir "
                               f"{root})") from None
        except json.JSONDecodeError as err:
            raise DatasetError(f"Co3d: malformed JSON in {listing}: {err}") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise DatasetError(f"Co3d: {listing} must map categories to {{sequence: [frame numbers]}}")
        self.sequences: list[tuple[str, str, list[int]]] = []
        for category, seqs in data.items():
            for name, frames in seqs.items():
                if len(frames) > 0:
                    self.sequences.append((category, name, [int(f) for f in frames]))
        if not self.sequences:
            raise DatasetError(f"Co3d: {listing} lists no sequence with frames")

    def __len__(self) -> int:
        return len(self.sequences) * len(_COMBINATIONS)

    @property
    def num_scenes(self) -> int:
        return len(self.sequences)

    def item_views(self, idx: int, rng: np.random.Generator) -> list[RawView]:
        category, name, frames = self.sequences[idx // len(_COMBINATIONS)]
        pair = _COMBINATIONS[idx % len(_COMBINATIONS)]
        last = len(frames) - 1
        views = []
        for position in pair:
            position = int(np.clip(position + rng.integers(-4, 5), 0, last))
            for attempt in range(len(frames)):  # skip frames with no valid depth
                raw = self.load_frame(category, name, frames[(position + attempt) % len(frames)])
                if (raw.depth > 0).any():
                    break
            else:
                raise DatasetError(f"Co3d: no frame of {self.ROOT / category / name} has valid depth")
            views.append(raw)
        return views

    def scene_views(self, scene: int) -> list[RawView]:
        category, name, frames = self.sequences[scene]
        return [self.load_frame(category, name, f) for f in frames]

    def load_frame(self, category: str, sequence: str, frame: int) -> RawView:
        folder = self.ROOT / category / sequence
        stem = f"frame{frame:06d}"
        meta_path = folder / "images" / f"{stem}.npz"
        try:
            with np.load(meta_path, allow_pickle=False) as meta:
                intrinsics = np.asarray(meta["camera_intrinsics"], dtype=np.float64)
                pose = np.asarray(meta["camera_pose"], dtype=np.float64)
                max_depth = float(np.nan_to_num(meta["maximum_depth"]))
        except FileNotFoundError:
            raise DatasetError(f"Co3d: missing camera file {meta_path}") from None
        except (KeyError, ValueError, OSError) as err:
            raise DatasetError(f"Co3d: malformed camera file {meta_path} (needs camera_intrinsics, camera_pose, "
                               f"maximum_depth): {err}") from None
        image = _open(folder / "images" / f"{stem}.jpg").convert("RGB")
        depth_png = np.asarray(_open(folder / "depths" / f"{stem}.jpg.geometric.png"), dtype=np.float32)
        depth = depth_png / 65535.0 * max_depth
        mask = None
        mask_path = folder / "masks" / f"{stem}.png"
        if self.mask_bg is not False:
            mask = np.asarray(_open(mask_path).convert("L"), dtype=np.float32) / 255.0 > 0.1
        return RawView(image=image, depth=depth.astype(np.float32), intrinsics=intrinsics, world_from_cam=pose,
                       label=f"{category}/{sequence}", instance=f"{stem}.jpg", mask=mask)


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
        return image
    except FileNotFoundError:
        raise DatasetError(f"Co3d: missing file {path}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetError(f"Co3d: cannot read {path}: {err}") from None
