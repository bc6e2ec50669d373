"""Checks of user-given values (command-line numbers, captions), raising one-line ConfigErrors that
name the flag and the value.

Booleans are refused where numbers are expected (JSON `true` and Python `True` are not 1), and so are
NaN and infinities; bounds are inclusive unless marked open.
"""

from __future__ import annotations

import math

from recon3r.errors import ConfigError


def check_int(flag: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """`value` as an int within [low, high]; ConfigError naming `flag` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{flag} must be a whole number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{flag} must be {_range(low, high, False, False)}, got {value}")
    return value


def check_float(flag: str, value: object, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a finite float within the bounds (open bounds exclude the end); ConfigError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{flag} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{flag} must be a finite number, got {value}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        raise ConfigError(f"{flag} must be {_range(low, high, low_open, high_open)}, got {value:g}")
    return value


def _range(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"{'>' if low_open else '>='} {low:g} and {'<' if high_open else '<='} {high:g}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def check_single_image_options(args) -> None:
    """`recon3r single-image` numbers in range before any work.

    The mesh grid is capped at 512 points per axis (512³ density samples already take minutes on a
    CPU; 3000 would ask for hundreds of GB); frame counts and sizes are bounded the same way.
    """
    check_int("--mesh-size", args.mesh_size, 8, 512)
    check_float("--mesh-threshold", args.mesh_threshold, 0, low_open=True)
    check_int("--views", args.views, 1, 720)
    check_float("--fps", args.fps, 0, 240, low_open=True)
    if args.render_size is not None:
        check_int("--render-size", args.render_size, 4, 2048)
    if args.source_size is not None:
        check_int("--source-size", args.source_size, 14, 2048)
    check_float("--source-distance", args.source_distance, 0, low_open=True)
    check_int("--chunk", args.chunk, 1, 1024)
    check_int("--steps", args.steps, 1, 1000)


def normalize_caption(caption: str | None) -> str | None:
    """A caption as the model takes it: None, "" and blank strings mean "no caption" (None).

    Any other string (free text or EXIF text) is returned unchanged; other types raise
    `ConfigError`.
    """
    if caption is None:
        return None
    if not isinstance(caption, str):
        raise ConfigError(f"a caption must be a string or None, got {type(caption).__name__} {caption!r}")
    return caption if caption.strip() else None
