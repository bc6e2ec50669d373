"""Helpers shared by the exporters: file names, network-resolution images, masked points, cameras."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Literal

import numpy as np

from recon3r.errors import ConfigError
from recon3r.scene import Scene

Resolution = Literal["auto", "original", "network"]


#: Names Windows reserves whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{k}" for k in range(1, 10)), *(f"LPT{k}" for k in range(1, 10))}


def image_file_names(scene: Scene, suffix: str = ".png") -> list[str]:
    """One unique, filesystem-safe file name per image, made from the scene's names.

    ASCII letters, digits, '.', '_' and '-' only (accents folded: "photo one é.jpg" → "photo_one_e.png"),
    at most 100 characters before the suffix, unique ignoring case (a repeated stem gets `_{index:04d}`).
    These names contain no whitespace, so COLMAP's text format can hold them.
    """
    names, seen = [], set()
    for i, name in enumerate(scene.names):
        folded = unicodedata.normalize("NFKD", Path(str(name)).stem).encode("ascii", "ignore").decode("ascii")
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", folded).strip("._")[:100] or f"image_{i:04d}"
        if stem.split(".")[0].upper() in _RESERVED:
            stem = f"{stem}_"
        candidate = stem + suffix
        if candidate.lower() in seen:
            candidate = f"{stem}_{i:04d}{suffix}"
        seen.add(candidate.lower())
        names.append(candidate)
    return names


def image_sources(scene: Scene) -> list[str]:
    """The file each image came from: `scene.sources` when known, else its name."""
    if scene.sources is not None and len(scene.sources) == len(scene):
        return [str(s) for s in scene.sources]
    return [str(n) for n in scene.names]


def write_images(scene: Scene, out_dir: str | Path) -> list[Path]:
    """Write each network-resolution image as an 8-bit PNG in `out_dir`; returns the paths."""
    from PIL import Image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for image, name in zip(scene.images, image_file_names(scene)):
        path = out_dir / name
        Image.fromarray(to_uint8(image)).save(path)
        paths.append(path)
    return paths


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(…, 3) float RGB in [0, 1] to uint8."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def masked_points(scene: Scene, max_points: int | None = None, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """World points kept by the masks, as (xyz (M, 3) float64, rgb (M, 3) uint8, image index (M,),
    pixel (M, 2) int (x, y) at network resolution). With `max_points`, a seeded random subset."""
    xyz, rgb, index, pixel = [], [], [], []
    for i, (points, image, mask) in enumerate(zip(scene.points, scene.images, scene.masks)):
        mask = np.asarray(mask, dtype=bool)
        ys, xs = np.nonzero(mask)
        xyz.append(np.asarray(points, dtype=np.float64)[ys, xs])
        rgb.append(to_uint8(np.asarray(image)[ys, xs]))
        index.append(np.full(len(ys), i, dtype=np.int64))
        pixel.append(np.stack([xs, ys], axis=-1).astype(np.int64))
    out = (np.concatenate(xyz).reshape(-1, 3), np.concatenate(rgb).reshape(-1, 3),
           np.concatenate(index), np.concatenate(pixel).reshape(-1, 2))
    if max_points is not None and len(out[0]) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(out[0]), size=max_points, replace=False))
        out = tuple(a[keep] for a in out)
    return out


def resolve_resolution(scene: Scene, resolution: Resolution) -> str:
    """'auto' means original when the scene knows its original-resolution transforms."""
    if resolution not in ("auto", "original", "network"):
        raise ConfigError(f"unknown resolution {resolution!r}; expected 'auto', 'original' or 'network'")
    if resolution == "auto":
        return "original" if scene.transforms is not None else "network"
    if resolution == "original" and scene.transforms is None:
        raise ConfigError("resolution 'original' needs the scene's image transforms, and this scene has none")
    return resolution


def cameras_at(scene: Scene, resolution: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(N, 3, 3) intrinsics (OpenCV, pixel centres at integers) and (width, height) per image."""
    if resolution == "original":
        assert scene.transforms is not None
        return scene.intrinsics_original(), [tuple(t.original_size) for t in scene.transforms]
    sizes = [(int(img.shape[1]), int(img.shape[0])) for img in scene.images]
    return np.asarray(scene.intrinsics, dtype=np.float64), sizes


def network_to_original_pixels(scene: Scene, image: int, pixels: np.ndarray) -> np.ndarray:
    """Map (M, 2) network-resolution pixel coordinates of one image to its original resolution."""
    assert scene.transforms is not None
    t = scene.transforms[image]
    offset = np.asarray(t.crop_offset, dtype=np.float64)
    return (np.asarray(pixels, dtype=np.float64) + offset + 0.5) / t.scale - 0.5
