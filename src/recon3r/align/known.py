"""Cameras the user already knows: intrinsics, focal lengths and poses held fixed during alignment.

Each may be given for all images or some: as None, a dict {image index: value}, or a sequence of
length N (entries may be None) / an array with N rows. Values are at network resolution and use
the library's conventions (OpenCV axes, cam-to-world 4×4 poses, pixel centres at integers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from recon3r.errors import Recon3rError


@dataclass
class KnownCameras:
    """Fixed per-image values (float64) and masks of the N images they apply to."""

    intrinsics: Tensor  # (N, 3, 3); identity where unknown
    intrinsics_mask: Tensor  # (N,) bool: the whole K is fixed
    focals: Tensor  # (N, 2) (fx, fy); 0 where unknown
    focal_mask: Tensor  # (N,) bool: fx and fy are fixed (includes every image with fixed K)
    poses: Tensor  # (N, 4, 4) world_from_cam; identity where unknown
    pose_mask: Tensor  # (N,) bool

    @property
    def num_poses(self) -> int:
        return int(self.pose_mask.sum())

    @property
    def any(self) -> bool:
        return bool(self.focal_mask.any() or self.pose_mask.any())


def parse_known_cameras(
    num_images: int,
    known_intrinsics: Any = None,
    known_focals: Any = None,
    known_poses: Any = None,
) -> KnownCameras:
    """Validate user-given cameras into a `KnownCameras`.

    Args:
        known_intrinsics: per image a (3, 3) K with fx, fy > 0 and last row (0, 0, 1).
        known_focals: per image a focal f > 0 (fx = fy = f) or a pair (fx, fy).
        known_poses: per image a (4, 4) cam-to-world pose with an orthonormal, right-handed rotation.

    Raises `Recon3rError` naming the argument and image for a bad index, shape or value, and
    when one image gets both a known K and a known focal.
    """
    dtype = torch.float64
    out = KnownCameras(
        intrinsics=torch.eye(3, dtype=dtype).repeat(num_images, 1, 1),
        intrinsics_mask=torch.zeros(num_images, dtype=torch.bool),
        focals=torch.zeros(num_images, 2, dtype=dtype),
        focal_mask=torch.zeros(num_images, dtype=torch.bool),
        poses=torch.eye(4, dtype=dtype).repeat(num_images, 1, 1),
        pose_mask=torch.zeros(num_images, dtype=torch.bool),
    )
    for k, value in _entries("known_intrinsics", known_intrinsics, num_images):
        out.intrinsics[k] = _intrinsics(value, f"known_intrinsics[{k}]")
        out.intrinsics_mask[k] = True
        out.focals[k] = out.intrinsics[k, [0, 1], [0, 1]]
        out.focal_mask[k] = True
    for k, value in _entries("known_focals", known_focals, num_images):
        where = f"known_focals[{k}]"
        if out.intrinsics_mask[k]:
            raise Recon3rError(f"{where}: image {k} also has known intrinsics; give one or the other")
        out.focals[k] = _focal(value, where)
        out.focal_mask[k] = True
    for k, value in _entries("known_poses", known_poses, num_images):
        out.poses[k] = _pose(value, f"known_poses[{k}]")
        out.pose_mask[k] = True
    return out


def _entries(name: str, value: Any, num_images: int) -> list[tuple[int, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        if isinstance(value, (np.ndarray, Tensor)) and value.ndim == 0:
            raise Recon3rError(
                f"{name} must be a dict {{image index: value}} or one value per image, got a scalar"
            )
        try:
            length = len(value)
        except TypeError:
            raise Recon3rError(
                f"{name} must be a dict {{image index: value}} or one value per image, got {type(value).__name__}"
            ) from None
        if length != num_images:
            raise Recon3rError(
                f"{name} has {length} entries but there are {num_images} images; use a dict for some images"
            )
        items = list(enumerate(value))
    out = []
    for key, item in items:
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise Recon3rError(f"{name}: image index {key!r} is not an integer")
        if not 0 <= int(key) < num_images:
            raise Recon3rError(
                f"{name}: image index {key} is out of range; there are {num_images} images (0..{num_images - 1})"
            )
        if item is not None:
            out.append((int(key), item))
    return out


def _as_tensor(value: Any, where: str) -> Tensor:
    try:
        tensor = torch.as_tensor(
            np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=np.float64)
        )
    except (TypeError, ValueError):
        raise Recon3rError(f"{where}: expected numbers, got {value!r}") from None
    if not torch.isfinite(tensor).all():
        raise Recon3rError(f"{where}: contains NaN or infinite values")
    return tensor


def _intrinsics(value: Any, where: str) -> Tensor:
    k = _as_tensor(value, where)
    if k.shape != (3, 3):
        raise Recon3rError(f"{where}: intrinsics must be a 3×3 matrix, got shape {tuple(k.shape)}")
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise Recon3rError(
            f"{where}: focal lengths must be positive, got fx={float(k[0, 0])}, fy={float(k[1, 1])}"
        )
    if not torch.allclose(k[2], torch.tensor([0.0, 0.0, 1.0], dtype=k.dtype)) or k[1, 0] != 0:
        raise Recon3rError(
            f"{where}: intrinsics must look like [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {k.tolist()}"
        )
    return k


def _focal(value: Any, where: str) -> Tensor:
    f = _as_tensor(value, where).reshape(-1)
    if f.numel() == 1:
        f = f.repeat(2)
    if f.numel() != 2:
        raise Recon3rError(f"{where}: a focal is one number or a pair (fx, fy), got {f.numel()} numbers")
    if (f <= 0).any():
        raise Recon3rError(f"{where}: focal lengths must be positive, got {f.tolist()}")
    return f


#: Known translations beyond this lose every digit in the float32 alignment.
MAX_TRANSLATION = 1e8


def _pose(value: Any, where: str) -> Tensor:
    pose = _as_tensor(value, where)
    if pose.shape != (4, 4):
        raise Recon3rError(
            f"{where}: a pose must be a 4×4 cam-to-world matrix, got shape {tuple(pose.shape)}"
        )
    if not torch.allclose(pose[3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=pose.dtype)):
        raise Recon3rError(f"{where}: the last row of a pose must be (0, 0, 0, 1), got {pose[3].tolist()}")
    rotation = pose[:3, :3]
    if (
        not torch.allclose(rotation.T @ rotation, torch.eye(3, dtype=pose.dtype), atol=1e-4)
        or torch.det(rotation) < 0
    ):
        raise Recon3rError(
            f"{where}: the 3×3 block is not a rotation (orthonormal, det +1); poses must be rigid"
        )
    if float(pose[:3, 3].abs().max()) > MAX_TRANSLATION:
        raise Recon3rError(f"{where}: translation {pose[:3, 3].tolist()} is beyond ±{MAX_TRANSLATION:.0e}; express "
                           "the poses in a unit and origin that keep them smaller")
    return pose
