"""Depth and confidence maps as colour images for the demo's gallery (numpy only, no matplotlib)."""

from __future__ import annotations

import numpy as np

# Anchor colours (RGB in [0, 1]) of a perceptually ordered dark-blue → teal → yellow ramp, spaced
# evenly over [0, 1]; values in between are interpolated linearly.
_RAMP = np.array([
    [0.27, 0.00, 0.33],
    [0.23, 0.32, 0.55],
    [0.13, 0.57, 0.55],
    [0.37, 0.79, 0.38],
    [0.99, 0.91, 0.14],
])
# Colour of pixels outside the mask (dropped points).
MASKED_RGB = (40, 40, 40)


def colorize(values: np.ndarray, mask: np.ndarray | None = None, *, low: float | None = None,
             high: float | None = None, reverse: bool = False) -> np.ndarray:
    """(H, W) values → (H, W, 3) uint8 colours.

    `low`/`high` bound the ramp (default: the 2nd and 98th percentiles of the finite values under
    `mask`); `reverse` maps low values to the bright end (near depth bright). Pixels where `mask`
    (H, W) bool is False, and non-finite values, are drawn in `MASKED_RGB`.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"colorize expects an (H, W) map, got shape {values.shape}")
    valid = np.isfinite(values)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != values.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the map's {values.shape}")
        valid &= mask
    sample = values[valid]
    if low is None:
        low = float(np.percentile(sample, 2)) if sample.size else 0.0
    if high is None:
        high = float(np.percentile(sample, 98)) if sample.size else 1.0
    span = high - low if high > low else 1.0
    t = np.clip((np.nan_to_num(values, nan=low) - low) / span, 0.0, 1.0)
    if reverse:
        t = 1.0 - t
    position = t * (len(_RAMP) - 1)
    index = np.minimum(position.astype(np.int64), len(_RAMP) - 2)
    frac = (position - index)[..., None]
    rgb = _RAMP[index] * (1.0 - frac) + _RAMP[index + 1] * frac
    out = np.rint(rgb * 255.0).astype(np.uint8)
    out[~valid] = MASKED_RGB
    return out


def depth_image(depth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(H, W) z-depth → (H, W, 3) uint8, near bright and far dark; dropped pixels grey."""
    return colorize(depth, mask, reverse=True)


def confidence_image(confidence: np.ndarray, high: float | None = None) -> np.ndarray:
    """(H, W) DUSt3R-style confidence (≥ 1) → (H, W, 3) uint8 on a log scale, confident bright.

    `high` (default: this map's maximum) lets several maps share one scale.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    logs = np.log(np.maximum(confidence, 1.0))
    top = np.log(max(high, 1.0)) if high is not None else (float(logs.max()) if logs.size else 1.0)
    return colorize(logs, low=0.0, high=top if top > 0 else 1.0)
