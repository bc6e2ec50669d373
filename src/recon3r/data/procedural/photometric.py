"""A camera's imperfections, applied to a rendered image after the geometry is fixed.

`develop(radiance, key, effects)` turns linear radiance (H, W, 3) into an 8-bit image as a cheap
camera would: exposure off the auto-exposure target, vignetting, defocus and motion blur, photon and
read noise, a white-balance error, a tone curve, and JPEG compression. Every step acts on pixel
values only, never on where a pixel looks, so depth, intrinsics and poses stay exact (blur mixes
neighbouring colours, as a real lens does, but the depth map is still the pinhole's).

`draw_camera_effects(rng)` draws one view's settings; the noise has its own seed, so a view
renders identically every time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass
class CameraEffects:
    """One view's camera settings (see the module docstring); neutral values leave the image as rendered."""

    exposure_ev: float = 0.0  # stops above (+) or below (-) the auto-exposure target
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGB gains of an imperfect white balance
    vignetting: float = 0.0  # relative darkening in the image corners
    blur_sigma: float = 0.0  # Gaussian defocus, pixels
    motion_px: float = 0.0  # length of a straight motion blur, pixels
    motion_angle: float = 0.0  # its direction in the image, radians
    full_well: float = 0.0  # photons at white: shot noise std sqrt(signal / full_well); 0 = no noise
    read_noise: float = 0.0  # additive noise std (fraction of white)
    contrast: float = 1.6  # tone-curve strength, 1 - exp(-contrast · x)
    jpeg_quality: int | None = None  # JPEG round trip at this quality, None = none
    seed: int = 0  # noise seed


def draw_camera_effects(rng: np.random.Generator) -> CameraEffects:
    """Random settings spanning phones to good cameras: most views mildly imperfect, a few strongly."""
    blur = rng.uniform() < 0.3
    moving = rng.uniform() < 0.15
    noisy = rng.uniform() < 0.7
    return CameraEffects(
        exposure_ev=float(np.clip(rng.normal(0.0, 0.45), -1.3, 1.3)),
        white_balance=tuple(float(g) for g in np.exp(rng.normal(0.0, 0.06, size=3))),
        vignetting=float(rng.uniform(0.0, 0.45)) if rng.uniform() < 0.6 else 0.0,
        blur_sigma=float(rng.uniform(0.3, 1.2)) if blur else 0.0,
        motion_px=float(rng.uniform(1.0, 3.0)) if moving else 0.0,
        motion_angle=float(rng.uniform(0, np.pi)),
        full_well=float(np.exp(rng.uniform(np.log(300.0), np.log(20000.0)))) if noisy else 0.0,
        read_noise=float(rng.uniform(0.0, 0.01)) if noisy else 0.0,
        contrast=float(rng.uniform(1.2, 2.2)),
        jpeg_quality=int(rng.integers(55, 96)) if rng.uniform() < 0.7 else None,
        seed=int(rng.integers(0, 2**31)),
    )


def develop(radiance: np.ndarray, key: float, effects: CameraEffects) -> np.ndarray:
    """Linear radiance (H, W, 3) → uint8 sRGB-like image (H, W, 3) through the camera `effects`."""
    height, width = radiance.shape[:2]
    mean_luminance = max(float((radiance.reshape(-1, 3) @ _LUMA).mean()), 1e-6)
    image = radiance.astype(np.float32) * np.float32(key / mean_luminance * 2.0**effects.exposure_ev)
    if effects.vignetting > 0:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        r2 = ((xs - (width - 1) / 2) ** 2 + (ys - (height - 1) / 2) ** 2) / (((width - 1) / 2) ** 2 + ((height - 1) / 2) ** 2)
        image *= (1.0 - effects.vignetting * r2 ** 1.5)[..., None]
    if effects.blur_sigma > 0:
        image = gaussian_blur(image, effects.blur_sigma)
    if effects.motion_px > 0:
        image = motion_blur(image, effects.motion_px, effects.motion_angle)
    image = np.clip(image, 0.0, None)
    if effects.full_well > 0 or effects.read_noise > 0:
        rng = np.random.default_rng(effects.seed)
        std = np.sqrt(image / effects.full_well + effects.read_noise**2) if effects.full_well > 0 else effects.read_noise
        image = image + rng.standard_normal(image.shape).astype(np.float32) * std
    image = np.clip(image * np.asarray(effects.white_balance, dtype=np.float32), 0.0, None)
    mapped = 1.0 - np.exp(-image * effects.contrast)
    out = np.round(np.clip(mapped, 0.0, 1.0) ** (1 / 2.2) * 255.0).astype(np.uint8)
    if effects.jpeg_quality is not None:
        out = jpeg_round_trip(out, effects.jpeg_quality)
    return out


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, C) image, edges replicated."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    return _convolve_axis(_convolve_axis(image, taps, 0), taps, 1)


def motion_blur(image: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Average of the image shifted along a line of `length` pixels at `angle` (bilinear shifts)."""
    steps = max(2, int(np.ceil(length)) + 1)
    out = np.zeros_like(image)
    for t in np.linspace(-length / 2, length / 2, steps):
        out += _shift(image, t * np.cos(angle), t * np.sin(angle))
    return out / steps


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode an (H, W, 3) uint8 image as JPEG at `quality` and decode it (4:2:0, as cameras save)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def _convolve_axis(image: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    radius = len(taps) // 2
    pad = [(0, 0)] * image.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(image, pad, mode="edge")
    out = np.zeros_like(image)
    size = image.shape[axis]
    for k, weight in enumerate(taps):
        out += weight * np.take(padded, np.arange(k, k + size), axis=axis)
    return out


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """image sampled at (x + dx, y + dy), bilinear, edges replicated."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x = np.clip(xs + dx, 0, width - 1)
    y = np.clip(ys + dy, 0, height - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
