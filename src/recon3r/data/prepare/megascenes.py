"""MegaScenes COLMAP reconstructions → the pair-info and serialized files `recon3r.data.MegaScenes` reads.

Raw layout (the MegaScenes release; scene ids zero-padded to six digits, split 3/3)::

    ROOT/reconstruct/SSS/SSS/sparses/<n>/{cameras,images,points3D}.bin   COLMAP models (read by pycolmap)
    ROOT/images/SSS/SSS/commons/<subcategory>/0/pictures/<image>        the photos, named in images.bin
                                                                          relative to ROOT/images/SSS/SSS
    ROOT/images/SSS/SSS/commons/<subcategory>/raw_metadata.json         Wikimedia Commons metadata per
                                                                          image, EXIF under `commonmetadata`

Output (`OUT`), for `--split NAME`:

- `NAME_pairs.pkl`: the image pairs, `[(image_a, image_b), ...]`, image paths relative to OUT (the
  loader's default `image_root`), so `MegaScenes('OUT/NAME_pairs.pkl', 'OUT/NAME_images.pkl',
  split=NAME)` reads them;
- `NAME_images.pkl`: `{image: {"extrinsics": (4, 4) world-to-camera, "intrinsics": (3, 3),
  "pointxyz": (N, 3) float32 world points of the image's SfM tracks, "caption": str}}`; pickles of
  containers and numpy arrays only, as the loader's restricted unpickler requires;
- `skipped_images.json`: every image left out, with the reason; `scenes/SSS_SSS.pkl`: each scene's
  finished part (a rerun skips those scenes: resuming).

Pairs: two images of one reconstruction whose shared 3D points number at least `min_overlap`
times the smaller of their point counts. Intrinsics: COLMAP's focal length and principal point
(distortion is ignored, as the seed did) in recon3r's pixel-centre convention (COLMAP's principal
point − 0.5), rescaled when the photo's size differs from the camera's by a uniform factor.
Captions: the EXIF fields of the image's `commonmetadata` written as a `recon3r.text` caption
("Make: ..., FocalLength: ... mm, ..."), else the photo's own EXIF, else "" (no caption).
"""

from __future__ import annotations

import os
import pickle
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from recon3r.data.megascenes import load_restricted_pickle, read_commonmetadata
from recon3r.data.prepare import PrepareReport
from recon3r.errors import ConfigError

# Wikimedia's names of EXIF fields that differ from the caption keys.
_METADATA_ALIASES = {"PhotographicSensitivity": "ISOSpeedRatings", "ISOSpeed": "ISOSpeedRatings"}


@dataclass
class MegaScenesPrepareConfig:
    """`recon3r data megascenes` options."""

    megascenes_dir: str
    output_dir: str
    scenes: Sequence[str] | None = None  # scene ids ("7", "000/007"); None: every scene with a reconstruction
    split: str = "train"
    min_overlap: float = 0.1
    max_pairs_per_scene: int = 0  # 0: all
    seed: int = 0
    progress: bool = True


def scene_folder(scene: str | int) -> str:
    """'7', 7 or '000/007' → '000/007' (MegaScenes' two-level scene folder)."""
    text = str(scene).strip().replace("\\", "/")
    digits = text.replace("/", "")
    if not digits.isdigit() or len(digits) > 6:
        raise ConfigError(f"bad MegaScenes scene id {scene!r}: expected a number such as 7 or 000/007")
    padded = digits.zfill(6)
    return f"{padded[:3]}/{padded[3:]}"


def prepare_megascenes(config: MegaScenesPrepareConfig) -> PrepareReport:
    """Write the split's pair-info and serialized files (module docstring); returns what was done."""
    root, out = Path(config.megascenes_dir), Path(config.output_dir)
    if not (root / "reconstruct").is_dir():
        raise ConfigError(f"--megascenes_dir {root}: no reconstruct/ folder (MegaScenes layout: reconstruct/, images/)")
    if not 0 <= config.min_overlap <= 1:
        raise ConfigError(f"--min_overlap must be in [0, 1], got {config.min_overlap}")
    if config.scenes:
        scenes = [scene_folder(s) for s in config.scenes]
    else:
        scenes = sorted(f"{a.name}/{b.name}" for a in (root / "reconstruct").iterdir() if a.is_dir()
                        for b in a.iterdir() if b.is_dir())
    if not scenes:
        raise ConfigError(f"--megascenes_dir {root}: no scene under reconstruct/")
    from recon3r.utils.progress import progress

    report = PrepareReport()
    pairs: list[tuple[str, str]] = []
    records: dict[str, dict[str, Any]] = {}
    for scene in progress(scenes, desc=f"{config.split} scenes", total=len(scenes), enabled=config.progress):
        done = out / "scenes" / f"{config.split}_{scene.replace('/', '_')}.pkl"
        if done.is_file():
            part = load_restricted_pickle(done)
            report.resumed += len(part["records"])
        else:
            part = _prepare_scene(config, root, out, scene)
            report.written += len(part["records"])
            _write_pickle(done, part)
        pairs += [tuple(p) for p in part["pairs"]]
        records.update(part["records"])
        report.skipped += [tuple(s) for s in part["skipped"]]
    _write_pickle(out / f"{config.split}_pairs.pkl", pairs)
    _write_pickle(out / f"{config.split}_images.pkl", records)
    report.write_skipped(out / "skipped_images.json")
    if not pairs:
        raise ConfigError(f"no image pair with --min_overlap {config.min_overlap} in {len(scenes)} scene(s); "
                          f"see {out / 'skipped_images.json'}")
    return report


def _prepare_scene(config: MegaScenesPrepareConfig, root: Path, out: Path, scene: str) -> dict[str, Any]:
    try:
        import pycolmap
    except ImportError:
        raise ConfigError("recon3r data megascenes reads COLMAP models with pycolmap: pip install 'recon3r[data]'") from None
    images_dir = root / "images" / scene
    models = sorted(p for sub in ("sparses", "sparse") for p in (root / "reconstruct" / scene / sub).glob("*")
                    if (p / "images.bin").is_file())
    part: dict[str, Any] = {"pairs": [], "records": {}, "skipped": []}
    if not models:
        part["skipped"].append((scene, "no COLMAP model (reconstruct/<scene>/sparses/<n>/images.bin)"))
        return part
    captions = _MetadataCaptions()
    by_name: dict[str, Path] | None = None
    for model_dir in models:
        try:
            reconstruction = pycolmap.Reconstruction(str(model_dir))
        except Exception as err:  # pycolmap raises its own error types for malformed files
            part["skipped"].append((str(model_dir), f"unreadable COLMAP model: {err}"))
            continue
        tracks: dict[str, set[int]] = {}
        for image_id in sorted(reconstruction.images):
            image = reconstruction.images[image_id]
            item = f"{scene}: {image.name}"
            path = images_dir / image.name
            if not path.is_file():  # files moved inside the scene folder: match by file name
                if by_name is None:
                    by_name = {p.name: p for p in images_dir.rglob("*") if p.is_file()}
                path = by_name.get(Path(image.name).name, path)
            ids = {p.point3D_id for p in image.points2D if p.has_point3D()}
            try:
                if not path.is_file():
                    raise _Skip("image file not found")
                if not ids:
                    raise _Skip("sees no 3D point of the reconstruction")
                record = _record(image, reconstruction, ids, path)
            except _Skip as skip:
                part["skipped"].append((item, str(skip)))
                continue
            key = os.path.relpath(path, out)
            record["caption"] = captions.caption(path)
            part["records"][key] = record
            tracks[key] = ids
        part["pairs"] += _overlapping_pairs(tracks, config.min_overlap)
    if config.max_pairs_per_scene and len(part["pairs"]) > config.max_pairs_per_scene:
        part["pairs"] = random.Random(config.seed).sample(part["pairs"], config.max_pairs_per_scene)
    used = {key for pair in part["pairs"] for key in pair}
    for key in sorted(set(part["records"]) - used):
        part["skipped"].append((f"{scene}: {key}", f"shares too few 3D points with every other image (--min_overlap {config.min_overlap})"))
        del part["records"][key]
    return part


class _Skip(Exception):
    """An image that cannot be used; the message says why."""


def _record(image: Any, reconstruction: Any, ids: set[int], path: Path) -> dict[str, Any]:
    camera = reconstruction.cameras[image.camera_id]
    intrinsics = np.array(camera.calibration_matrix(), dtype=np.float64)
    intrinsics[:2, 2] -= 0.5  # COLMAP puts the top-left pixel's centre at (0.5, 0.5), recon3r at (0, 0)
    try:
        with Image.open(path) as photo:
            width, height = photo.size
    except (UnidentifiedImageError, OSError) as err:
        raise _Skip(f"unreadable image: {err}") from None
    sx, sy = width / camera.width, height / camera.height
    if abs(sx - sy) > 2.0 / min(camera.width, camera.height):
        raise _Skip(f"photo is {width}×{height}, the COLMAP camera {camera.width}×{camera.height} (another aspect ratio)")
    if (width, height) != (camera.width, camera.height):
        intrinsics[0] *= sx
        intrinsics[1] *= sy
        intrinsics[:2, 2] += 0.5 * np.array([sx, sy]) - 0.5
    extrinsics = np.eye(4)
    extrinsics[:3] = np.asarray(image.cam_from_world().matrix(), dtype=np.float64)
    points = np.array([reconstruction.points3D[i].xyz for i in sorted(ids)], dtype=np.float32).reshape(-1, 3)
    return {"extrinsics": extrinsics, "intrinsics": intrinsics, "pointxyz": points}


def _overlapping_pairs(tracks: dict[str, set[int]], min_overlap: float) -> list[tuple[str, str]]:
    """Image pairs (a < b) sharing ≥ min_overlap · min(|points a|, |points b|) 3D points."""
    seen_by: dict[int, list[str]] = {}
    for key, ids in tracks.items():
        for point in ids:
            seen_by.setdefault(point, []).append(key)
    shared: Counter[tuple[str, str]] = Counter()
    for keys in seen_by.values():
        shared.update(combinations(sorted(keys), 2))
    return sorted(pair for pair, count in shared.items()
                  if count >= max(1, min_overlap * min(len(tracks[pair[0]]), len(tracks[pair[1]]))))


class _MetadataCaptions:
    """Captions from each subcategory's raw_metadata.json (read once per file), else the photo's EXIF."""

    def __init__(self) -> None:
        self.files: dict[Path, dict[str, dict[str, Any]]] = {}

    def caption(self, image_path: Path) -> str:
        from recon3r.text.captions import CAPTION_KEYS, caption_from_exif, format_caption

        fields: dict[str, Any] = {}
        if len(image_path.parents) >= 3:
            meta = image_path.parents[2] / "raw_metadata.json"
            if meta not in self.files:
                self.files[meta] = read_commonmetadata(meta)
            raw = self.files[meta].get(image_path.name, {})
            fields = {_METADATA_ALIASES.get(k, k): v for k, v in raw.items()}
            fields = {k: v for k, v in fields.items() if k in CAPTION_KEYS and k not in ("ImageWidth", "ImageHeight")}
        caption = None
        if fields:
            with Image.open(image_path) as photo:
                fields["ImageWidth"], fields["ImageHeight"] = photo.size
            caption = format_caption(fields)
        if caption is None:
            try:
                caption = caption_from_exif(image_path)
            except Exception:  # an unreadable EXIF block only costs the caption
                caption = None
        return caption or ""


def _write_pickle(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("wb") as handle:
        pickle.dump(data, handle, protocol=4)
    os.replace(tmp, path)
