"""Crops, resizes and photometric augmentations that keep the camera geometry exact.

Geometry follows the repository convention: pixel centres at integer coordinates, so the image
covers [-0.5, W - 0.5] and a resize by (sx, sy) maps x → (x + 0.5)·sx - 0.5. A crop starting at
column l maps x → x - l. Depth and masks are resampled by nearest neighbour (the source pixel that
contains the target pixel's centre), so depth values are never blended across edges.

`crop_resize` is DUSt3R's `_crop_resize_if_necessary` with that exact bookkeeping: crop around
the principal point, scale so the target fits (plus `aug_crop` pixels of random zoom), centre-crop.
All randomness comes from the `numpy.random.Generator` passed in, so samples are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

Resolution = tuple[int, int]  # (width, height)


def normalize_resolutions(resolution: int | Sequence[int] | Sequence[Sequence[int]] | None
                          ) -> list[Resolution | None]:
    """`224` → [(224, 224)]; `(512, 384)` → [(512, 384)]; a list of (W, H) stays a list; None → [None].

    Entries keep their orientation: (288, 512) is a portrait resolution (true layout, no transpose).
    None keeps every view at its stored size, uncropped: for tasks whose collator takes views of
    any size (depth-to-3D), not for those that stack images.
    """
    if resolution is None:
        return [None]
    if isinstance(resolution, (int, np.integer)):
        items: list = [(int(resolution), int(resolution))]
    elif isinstance(resolution, (tuple, list)) and len(resolution) == 2 and all(
            isinstance(v, (int, np.integer)) for v in resolution):
        items = [tuple(resolution)]
    elif isinstance(resolution, (tuple, list)) and len(resolution) > 0:
        items = [(r, r) if isinstance(r, (int, np.integer)) else tuple(r) if isinstance(r, (tuple, list)) else (r,)
                 for r in resolution]
    else:
        raise ValueError(f"resolution must be an int, a (width, height) pair or a list of them, got {resolution!r}")
    out = []
    for item in items:
        if len(item) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 8 for v in item):
            raise ValueError(f"bad resolution {item!r}: expected (width, height) integers >= 8")
        out.append((int(item[0]), int(item[1])))
    return out


def aspect_resolutions(size: int, aspects: Sequence[tuple[int, int]] = ((4, 3), (3, 2), (16, 9), (2, 1)),
                       multiple: int = 16, portrait: bool = False, square: bool = False) -> list[Resolution]:
    """Aspect-ratio-aware training resolutions: width `size`, height rounded to `multiple`.

    `aspect_resolutions(512)` → [(512, 384), (512, 336), (512, 288), (512, 256)], DUSt3R's list
    (it adds (512, 160)). `portrait=True` appends the transposed resolutions; `square=True`
    prepends (size, size).
    """
    out = [(size, size)] if square else []
    for aw, ah in aspects:
        height = max(multiple, int(round(size * ah / aw / multiple)) * multiple)
        out.append((size, height))
    if portrait:
        out += [(h, w) for w, h in out if w != h]
    return out


def crop_to_principal_point(image: Image.Image, intrinsics: np.ndarray, *maps: np.ndarray | None
                            ) -> tuple[Image.Image, np.ndarray, list[np.ndarray | None]]:
    """Largest crop centred on the principal point (to the nearest pixel), as DUSt3R does first."""
    width, height = image.size
    cx, cy = intrinsics[0, 2] + 0.5, intrinsics[1, 2] + 0.5  # in edge coordinates [0, W]
    half_w, half_h = min(cx, width - cx), min(cy, height - cy)
    left, top = int(round(cx - half_w)), int(round(cy - half_h))
    right, bottom = int(round(cx + half_w)), int(round(cy + half_h))
    if right - left < 8 or bottom - top < 8:
        raise ValueError(f"principal point {intrinsics[:2, 2].tolist()} lies too close to the border of a "
                         f"{width}×{height} image")
    return crop(image, intrinsics, (left, top, right, bottom), *maps)


def crop(image: Image.Image, intrinsics: np.ndarray, box: tuple[int, int, int, int], *maps: np.ndarray | None
         ) -> tuple[Image.Image, np.ndarray, list[np.ndarray | None]]:
    """Crop pixels [left, right) × [top, bottom) from the image and per-pixel maps; shift the principal point."""
    left, top, right, bottom = box
    k = np.array(intrinsics, dtype=np.float64, copy=True)
    k[0, 2] -= left
    k[1, 2] -= top
    if (left, top, right, bottom) == (0, 0, *image.size):
        return image, k, list(maps)
    return image.crop(box), k, [None if m is None else m[top:bottom, left:right] for m in maps]


def resize(image: Image.Image, intrinsics: np.ndarray, size: Resolution, *maps: np.ndarray | None
           ) -> tuple[Image.Image, np.ndarray, list[np.ndarray | None]]:
    """Resize to (width, height): LANCZOS when shrinking, BICUBIC when enlarging; maps by nearest neighbour."""
    width, height = image.size
    new_w, new_h = size
    if (new_w, new_h) == (width, height):
        return image, np.array(intrinsics, dtype=np.float64, copy=True), list(maps)
    sx, sy = new_w / width, new_h / height
    k = np.array(intrinsics, dtype=np.float64, copy=True)
    k[0, :] *= sx  # fx, skew, cx
    k[1, :] *= sy
    k[0, 2] += 0.5 * sx - 0.5
    k[1, 2] += 0.5 * sy - 0.5
    resample = Image.Resampling.LANCZOS if max(sx, sy) < 1 else Image.Resampling.BICUBIC
    out = image.resize((new_w, new_h), resample=resample)
    cols = np.minimum(((np.arange(new_w) + 0.5) / sx).astype(np.int64), width - 1)
    rows = np.minimum(((np.arange(new_h) + 0.5) / sy).astype(np.int64), height - 1)
    return out, k, [None if m is None else m[rows[:, None], cols[None, :]] for m in maps]


def crop_resize(image: Image.Image, intrinsics: np.ndarray, resolution: Resolution, *maps: np.ndarray | None,
                rng: np.random.Generator | None = None, aug_crop: int = 0
                ) -> tuple[Image.Image, np.ndarray, list[np.ndarray | None]]:
    """Bring a view to exactly `resolution` (W, H) with exact intrinsics.

    1. crop centred on the principal point; 2. scale uniformly so the image covers the target
    enlarged by a random 0..aug_crop-1 pixels (a zoom jitter, DUSt3R's `aug_crop`); 3. centre-crop.
    `maps` (depth, masks) of shape (H, W) follow the image.
    """
    image, k, maps_list = crop_to_principal_point(image, intrinsics, *maps)
    target_w, target_h = resolution
    extra = int(rng.integers(0, aug_crop)) if (aug_crop and aug_crop > 1 and rng is not None) else 0
    width, height = image.size
    scale = max((target_w + extra) / width, (target_h + extra) / height) + 1e-8
    new_size = (max(target_w, int(np.floor(width * scale))), max(target_h, int(np.floor(height * scale))))
    image, k, maps_list = resize(image, k, new_size, *maps_list)
    left = int(round(0.5 * (new_size[0] - target_w)))
    top = int(round(0.5 * (new_size[1] - target_h)))
    return crop(image, k, (left, top, left + target_w, top + target_h), *maps_list)


def mask_background(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Depth with every pixel outside the foreground `mask` set invalid (0): object-centric supervision."""
    return np.where(mask, depth, np.float32(0.0)).astype(np.float32)


class ImgNorm:
    """The identity photometric transform (images are normalised to [-1, 1] afterwards in any case)."""

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return image

    def __repr__(self) -> str:
        return "ImgNorm()"


class ColorJitter:
    """Random brightness, contrast, saturation and hue, in a random order (torchvision's semantics).

    Factors are drawn from [1 - x, 1 + x] (hue: a shift in [-hue, hue] turns of the colour wheel)
    with the dataset's generator, so a sample is reproducible. Defaults are DUSt3R's (0.5, 0.5, 0.5, 0.1).
    """

    def __init__(self, brightness: float = 0.5, contrast: float = 0.5, saturation: float = 0.5, hue: float = 0.1):
        for name, value, top in (("brightness", brightness, None), ("contrast", contrast, None),
                                 ("saturation", saturation, None), ("hue", hue, 0.5)):
            if value < 0 or (top is not None and value > top):
                raise ValueError(f"ColorJitter {name} must be in [0, {top or 'inf'}], got {value}")
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        for op in rng.permutation(4):
            if op == 0 and self.brightness:
                rgb = rgb * rng.uniform(1 - self.brightness, 1 + self.brightness)
            elif op == 1 and self.contrast:
                mean = float(_gray(rgb).mean())
                f = rng.uniform(1 - self.contrast, 1 + self.contrast)
                rgb = rgb * f + mean * (1 - f)
            elif op == 2 and self.saturation:
                f = rng.uniform(1 - self.saturation, 1 + self.saturation)
                rgb = rgb * f + _gray(rgb)[..., None] * (1 - f)
            elif op == 3 and self.hue:
                rgb = _shift_hue(rgb, rng.uniform(-self.hue, self.hue))
            rgb = np.clip(rgb, 0.0, 1.0)
        return Image.fromarray(np.round(rgb * 255.0).astype(np.uint8))

    def __repr__(self) -> str:
        return f"ColorJitter({self.brightness}, {self.contrast}, {self.saturation}, {self.hue})"


def _gray(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _shift_hue(rgb: np.ndarray, shift: float) -> np.ndarray:
    hsv = np.asarray(Image.fromarray(np.round(rgb * 255).astype(np.uint8)).convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int64) + int(round(shift * 255))) % 256
    shifted = Image.frombytes("HSV", (hsv.shape[1], hsv.shape[0]), np.ascontiguousarray(hsv).tobytes())
    return np.asarray(shifted.convert("RGB"), dtype=np.float32) / 255.0


def to_tensor(image: Image.Image):
    """(3, H, W) float32 torch tensor in [-1, 1] from an RGB image (DUSt3R's ImgNorm: mean 0.5, std 0.5)."""
    import torch

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)) * 2.0 - 1.0)
