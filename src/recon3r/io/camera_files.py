"""Known cameras from JSON files (`recon3r reconstruct --intrinsics FILE --poses FILE`).

Both files map image file names (or stems) to values; images not listed are estimated.

Intrinsics, at the ORIGINAL image resolution (what a calibration gives):
    {"img_001.jpg": {"fx": 1200, "fy": 1200, "cx": 960, "cy": 540},
     "img_002.jpg": {"K": [[1200, 0, 960], [0, 1200, 540], [0, 0, 1]]},
     "img_003.jpg": {"focal": 1200}}          # focal only: the principal point stays estimated
A top-level "*" entry applies to every image (one camera for the whole set).

Poses, cam-to-world 4×4 in OpenCV axes (x right, y down, z forward):
    {"img_001.jpg": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recon3r.errors import ConfigError


def _read_mapping(path: str | Path, what: str) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object mapping image names to {what}")
    return data


def _match_names(data: dict[str, Any], names: list[str], path: str | Path) -> dict[int, Any]:
    """Map file-name / stem keys onto image indices; unknown keys are an error, not silently dropped."""
    lookup: dict[str, int] = {}
    for index, name in enumerate(names):
        for key in (name, Path(name).name, Path(name).stem):
            lookup.setdefault(key, index)
    matched: dict[int, Any] = {}
    if "*" in data:
        matched = dict.fromkeys(range(len(names)), data["*"])
    unknown = [key for key in data if key != "*" and key not in lookup]
    if unknown:
        raise ConfigError(f"{path}: no image named {', '.join(map(repr, unknown))} (images: {', '.join(names)})")
    for key, value in data.items():
        if key != "*":
            matched[lookup[key]] = value
    return matched


def _intrinsics_entry(value: Any, key: str, path: str | Path) -> tuple[np.ndarray | None, float | None]:
    """(K, None) for a full calibration, (None, focal) for focal only."""
    def number(name: str) -> float:
        try:
            out = float(value[name])
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {key}.{name} must be a number, got {value[name]!r}") from None
        if not np.isfinite(out) or (name in ("fx", "fy", "focal") and out <= 0):
            raise ConfigError(f"{path}: {key}.{name} must be finite{' and positive' if name != 'cx' else ''}, got {out}")
        return out

    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {key} must be an object with K, fx/fy/cx/cy or focal")
    if "K" in value:
        K = np.asarray(value["K"], dtype=np.float64)
        if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ConfigError(f"{path}: {key}.K must be a finite 3x3 matrix with positive focals")
        return K, None
    if {"fx", "fy", "cx", "cy"} <= set(value):
        K = np.array([[number("fx"), 0, number("cx")], [0, number("fy"), number("cy")], [0, 0, 1]])
        return K, None
    if "focal" in value:
        return None, number("focal")
    raise ConfigError(f"{path}: {key} needs K, fx/fy/cx/cy or focal (got keys {sorted(value)})")


def read_intrinsics_file(path: str | Path, names: list[str]) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """({index: K}, {index: focal}) at the original resolution, for the images listed in `path`."""
    data = _read_mapping(path, "intrinsics")
    full: dict[int, np.ndarray] = {}
    focal: dict[int, float] = {}
    for index, value in _match_names(data, names, path).items():
        K, f = _intrinsics_entry(value, names[index], path)
        if K is not None:
            full[index] = K
        else:
            focal[index] = f  # type: ignore[assignment]
    return full, focal


def read_poses_file(path: str | Path, names: list[str]) -> dict[int, np.ndarray]:
    """{index: cam-to-world 4×4} for the images listed in `path`."""
    data = _read_mapping(path, "poses")
    poses: dict[int, np.ndarray] = {}
    for index, value in _match_names(data, names, path).items():
        pose = np.asarray(value, dtype=np.float64) if isinstance(value, list) else None
        if pose is None or pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise ConfigError(f"{path}: the pose of {names[index]} must be a finite 4x4 cam-to-world matrix")
        rotation = pose[:3, :3]
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4) or np.linalg.det(rotation) < 0:
            raise ConfigError(f"{path}: the pose of {names[index]} does not hold a rotation (R·Rᵀ ≠ I or det < 0)")
        if not np.allclose(pose[3], [0, 0, 0, 1]):
            raise ConfigError(f"{path}: the last row of {names[index]}'s pose must be [0, 0, 0, 1]")
        poses[index] = pose
    return poses
