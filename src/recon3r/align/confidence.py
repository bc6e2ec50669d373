"""Which points to keep: the minimum confidence, fixed or adapted to the scene's confidence scale.

DUSt3R-style confidences (1 + exp(x)) have no fixed scale: the reference keeps points with
confidence ≥ 3, which suits its released models, while a smaller or less trained model can put every
confidence below 2 and so keep nothing. The `auto` rule keeps a point when its confidence reaches
`min(REFERENCE_MIN_CONF, median of the scene's pair confidences)`: the reference threshold when the
model is confident, at worst the more confident half of the scene when it is not.
"""

from __future__ import annotations

import math

import numpy as np

from recon3r.errors import ConfigError

AUTO = "auto"
REFERENCE_MIN_CONF = 3.0  # the reference DUSt3R demo's default threshold
AUTO_QUANTILE = 0.5  # the `auto` rule never asks for more than the scene's median confidence
LOW_KEEP_FRACTION = 0.01  # below this share of kept points, commands warn
AUTO_RULE = f"min({REFERENCE_MIN_CONF:g}, the scene's median confidence)"


def parse_min_conf(value: float | str) -> float | str:
    """`"auto"` or a finite number (CLI text accepted); ConfigError naming the value otherwise."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"--min-conf must be a number or '{AUTO}', got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"--min-conf must be a finite number or '{AUTO}', got {value!r}")
    return float(value)


def resolve_min_conf(min_conf: float | str, confidences: np.ndarray) -> float:
    """The threshold to use: `min_conf` itself, or the `auto` rule on `confidences` (any shape)."""
    min_conf = parse_min_conf(min_conf)
    if min_conf != AUTO:
        return float(min_conf)
    values = np.asarray(confidences, dtype=np.float64).reshape(-1)
    values = values[np.isfinite(values)]
    if not values.size:
        return REFERENCE_MIN_CONF
    return float(min(REFERENCE_MIN_CONF, np.quantile(values, AUTO_QUANTILE)))


def low_confidence_warning(confidences: np.ndarray, threshold: float, *, flag: str = "--min-conf") -> str | None:
    """A one-line warning when `threshold` keeps fewer than 1% of `confidences`, else None.

    It names the confidences seen and suggests a threshold (their median, which keeps about half).
    """
    values = np.asarray(confidences, dtype=np.float64).reshape(-1)
    values = values[np.isfinite(values)]
    if not values.size:
        return "no finite confidence was predicted: no point can be kept"
    kept = int((values >= threshold).sum())
    if kept >= LOW_KEEP_FRACTION * values.size:
        return None
    low, median, high = np.quantile(values, [0.0, 0.5, 1.0])
    share = 100.0 * kept / values.size
    return (f"{flag} {threshold:.4g} keeps {kept:,} of {values.size:,} points ({share:.2g}%); the confidences "
            f"seen range {low:.3g}–{high:.3g} (median {median:.3g}); try {flag} {_round_down(median)}")


def _round_down(value: float) -> str:
    """A short number at most `value`, so the suggested threshold does keep about half."""
    if value <= 0:
        return f"{value:.3g}"
    digits = max(0, 2 - int(math.floor(math.log10(value))))
    return f"{math.floor(value * 10**digits) / 10**digits:g}"


def keep_split(confidences: np.ndarray, errors: np.ndarray, threshold: float) -> dict[str, float]:
    """How a threshold splits points: kept share, median error of kept and of discarded points, their ratio.

    `confidences` and `errors` are matching arrays (any shape, flattened; non-finite entries are
    dropped). The ratio kept / discarded is what calibration asks to be small (≤ 0.5: the kept
    points are at least twice as accurate as the ones thrown away); NaN where a side is empty.
    """
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    err = np.asarray(errors, dtype=np.float64).reshape(-1)
    if conf.shape != err.shape:
        raise ValueError(f"confidences {conf.shape} and errors {err.shape} differ in size")
    finite = np.isfinite(conf) & np.isfinite(err)
    conf, err = conf[finite], err[finite]
    kept = conf >= threshold
    kept_median = float(np.median(err[kept])) if kept.any() else float("nan")
    dropped_median = float(np.median(err[~kept])) if (~kept).any() else float("nan")
    return {"kept_fraction": float(kept.mean()) if conf.size else float("nan"), "kept_median_error": kept_median,
            "discarded_median_error": dropped_median, "error_ratio": kept_median / dropped_median
            if dropped_median > 0 else float("nan")}
