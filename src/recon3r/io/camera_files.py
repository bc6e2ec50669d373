"""Known cameras from JSON files (`recon3r reconstruct --intrinsics FILE --poses FILE`).

Both files map images to values; images not listed are estimated. A key is an image's path as given
on the command line, its file name, or its stem; a key that names two images (two folders holding
"img.jpg", or "img.jpg" and "img.png" for the stem "img") is refused, as `--captions` does.

Intrinsics, at the ORIGINAL image resolution (what a calibration gives):
    {"img_001.jpg": {"fx": 1200, "fy": 1200, "cx": 960, "cy": 540},
     "img_002.jpg": {"K": [[1200, 0, 960], [0, 1200, 540], [0, 0, 1]]},
     "img_003.jpg": {"focal": 1200}}          # focal only: the principal point stays estimated
A top-level "*" entry applies to every image not listed by name (one camera for the whole set).

Poses, cam-to-world 4×4 in OpenCV axes (x right, y down, z forward):
    {"img_001.jpg": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}

Every value is checked: numbers are JSON numbers (not `true`, not text), finite, focal lengths
positive and below 100× the image's longest side, principal points within one image size of the
image, rotations orthonormal, translations below 1e8 in magnitude. Errors name the file, the key and
the value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recon3r.align.known import MAX_TRANSLATION
from recon3r.errors import ConfigError

#: Focal lengths must stay below this many times the image's longest side (a 0.6° field of view).
MAX_FOCAL_RATIO = 100.0
INTRINSICS_FIELDS = ("K", "fx", "fy", "cx", "cy", "focal")


def read_intrinsics_file(path: str | Path, names: Sequence[str],
                         sizes: Sequence[tuple[int, int]] | None = None
                         ) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """({index: K}, {index: focal}) at the original resolution, for the images listed in `path`.

    `names`: the images' paths as given (or file names); `sizes`: their original (width, height),
    which enables the range checks of focal lengths and principal points.
    """
    data = _read_mapping(path, "intrinsics")
    full: dict[int, np.ndarray] = {}
    focal: dict[int, float] = {}
    for index, (key, value) in _match_names(data, names, path).items():
        size = tuple(sizes[index]) if sizes is not None else None
        K, f = _intrinsics_entry(value, key, path, size)
        if K is not None:
            full[index] = K
        else:
            focal[index] = f  # type: ignore[assignment]
    return full, focal


def read_poses_file(path: str | Path, names: Sequence[str]) -> dict[int, np.ndarray]:
    """{index: cam-to-world 4×4} for the images listed in `path`."""
    data = _read_mapping(path, "poses")
    poses: dict[int, np.ndarray] = {}
    for index, (key, value) in _match_names(data, names, path).items():
        pose = _matrix(value, (4, 4), f"{path}: the pose of {key}", "a 4x4 cam-to-world matrix")
        where = f"{path}: the pose of {key}"
        rotation = pose[:3, :3]
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4) or np.linalg.det(rotation) < 0:
            raise ConfigError(f"{where} does not hold a rotation (R·Rᵀ ≠ I or det < 0): {rotation.tolist()}")
        if not np.allclose(pose[3], [0, 0, 0, 1]):
            raise ConfigError(f"{where}: the last row must be [0, 0, 0, 1], got {pose[3].tolist()}")
        largest = float(np.abs(pose[:3, 3]).max())
        if largest > MAX_TRANSLATION:
            raise ConfigError(f"{where}: translation {pose[:3, 3].tolist()} is beyond ±{MAX_TRANSLATION:.0e}; "
                              "express the poses in a unit and origin that keep them smaller")
        poses[index] = pose
    return poses


# ---------------------------------------------------------------- reading and matching
def _read_mapping(path: str | Path, what: str) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} file {path} is a folder, not a JSON file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{what} file {path} cannot be read: {err}") from None
    try:
        data = json.loads(text, object_pairs_hook=_refuse_repeated_keys, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    except ValueError as err:
        raise ConfigError(f"{path}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object mapping image names to {what}, "
                          f"got {type(data).__name__}")
    return data


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"key {repeated[0]!r} appears more than once")
    return dict(pairs)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows; give finite numbers")


def _match_names(data: dict[str, Any], names: Sequence[str], path: str | Path) -> dict[int, tuple[str, Any]]:
    """{image index: (key, value)}: keys matched by path as given, file name or stem; "*" fills the rest.

    Unknown keys are an error (not silently dropped), and so is a key that names several images.
    """
    owners: dict[str, set[int]] = {}
    for index, name in enumerate(names):
        for key in {str(name), Path(str(name)).name, Path(str(name)).stem}:
            owners.setdefault(key, set()).add(index)
    unknown = [key for key in data if key != "*" and key not in owners]
    if unknown:
        shown = ", ".join(Path(str(n)).name for n in names)
        raise ConfigError(f"{path}: no image named {', '.join(map(repr, unknown))} (images: {shown})")
    matched: dict[int, tuple[str, Any]] = {}
    for key, value in data.items():
        if key == "*":
            continue
        indices = sorted(owners[key])
        if len(indices) > 1:
            listed = ", ".join(str(names[i]) for i in indices)
            raise ConfigError(f"{path}: key {key!r} is ambiguous: {len(indices)} images match it ({listed}); "
                              "key them by their full path instead")
        if indices[0] in matched:
            raise ConfigError(f"{path}: image {names[indices[0]]} is listed twice (keys "
                              f"{matched[indices[0]][0]!r} and {key!r})")
        matched[indices[0]] = (key, value)
    if "*" in data:
        for index in range(len(names)):
            matched.setdefault(index, ("*", data["*"]))
    return dict(sorted(matched.items()))


# ---------------------------------------------------------------- values
def _intrinsics_entry(value: Any, key: str, path: str | Path, size: tuple[int, int] | None
                      ) -> tuple[np.ndarray | None, float | None]:
    """(K, None) for a full calibration, (None, focal) for focal only."""
    where = f"{path}: {key}"
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be an object with K, fx/fy/cx/cy or focal, got {value!r}")
    unknown = sorted(set(value) - set(INTRINSICS_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(INTRINSICS_FIELDS)}; "
                          "lens distortion is not supported)")
    forms = [form for form, fields in (("K", {"K"}), ("fx/fy/cx/cy", {"fx", "fy", "cx", "cy"}), ("focal", {"focal"}))
             if fields & set(value)]
    if len(forms) != 1:
        raise ConfigError(f"{where} needs exactly one of K, fx/fy/cx/cy or focal, got keys {sorted(value)}")
    if forms[0] == "K":
        K = _matrix(value["K"], (3, 3), f"{where}.K", "a 3x3 matrix")
        if not np.allclose(K[2], [0, 0, 1]) or K[1, 0] != 0:
            raise ConfigError(f"{where}.K must look like [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {K.tolist()}")
    elif forms[0] == "fx/fy/cx/cy":
        missing = [name for name in ("fx", "fy", "cx", "cy") if name not in value]
        if missing:
            raise ConfigError(f"{where} gives fx/fy/cx/cy but lacks {', '.join(missing)}")
        fx, fy, cx, cy = (_number(value[name], f"{where}.{name}") for name in ("fx", "fy", "cx", "cy"))
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    else:
        return None, _focal(_number(value["focal"], f"{where}.focal"), f"{where}.focal", size)
    _focal(K[0, 0], f"{where} fx", size)
    _focal(K[1, 1], f"{where} fy", size)
    if size is not None:
        for axis, name in ((0, "cx"), (1, "cy")):
            extent = size[axis]
            if not -extent <= K[axis, 2] <= 2 * extent:
                raise ConfigError(f"{where} {name} = {K[axis, 2]:g} is more than one image size ({extent} px) "
                                  "outside the image")
    return K, None


def _focal(focal: float, where: str, size: tuple[int, int] | None) -> float:
    if not focal > 0:
        raise ConfigError(f"{where} must be positive, got {focal:g}")
    if size is not None and focal >= MAX_FOCAL_RATIO * max(size):
        raise ConfigError(f"{where} = {focal:g} px is not below {MAX_FOCAL_RATIO:g}× the image size "
                          f"({size[0]}x{size[1]}); focal lengths are in pixels of the original image")
    return float(focal)


def _number(value: Any, where: str) -> float:
    """A finite JSON number; `true` and "12" are refused, not read as 1 and 12."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number, got {json.dumps(value) if _jsonable(value) else repr(value)}")
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be finite, got {value}")
    return float(value)


def _matrix(value: Any, shape: tuple[int, int], where: str, what: str) -> np.ndarray:
    """A `shape` matrix of finite numbers from nested JSON lists."""
    rows, cols = shape
    if not isinstance(value, list) or len(value) != rows or not all(isinstance(r, list) and len(r) == cols
                                                                     for r in value):
        raise ConfigError(f"{where} must be {what} ({rows} lists of {cols} numbers), got {_short(value)}")
    return np.array([[_number(v, f"{where}[{i}][{j}]") for j, v in enumerate(row)] for i, row in enumerate(value)])


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
