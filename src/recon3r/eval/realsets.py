"""Loaders for the real benchmark sets: calibrated multi-view rings and rectified stereo pairs.

- Middlebury multi-view stereo rings (Seitz et al., CVPR 2006), e.g. `dinoSparseRing`: photos
  with calibrated K, R, t, for relative-pose evaluation (`load_calibrated_ring`).
- Middlebury 2003 stereo pairs (Scharstein & Szeliski, CVPR 2003), e.g. `teddy`: a rectified
  pair with GT disparity, i.e. depth up to one unknown scale, for scale-invariant depth
  evaluation (`load_stereo_pair`).

`load_real_set(folder)` recognises either layout. Poses come out as cam-to-world
`world_from_cam` (OpenCV axes) and intrinsics with pixel centres at integer coordinates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recon3r.errors import Recon3rError


@dataclass(frozen=True)
class CalibratedImageSet:
    """N images with calibrated pinhole cameras, for relative pose.

    world_from_cam: (N, 4, 4) float64 cam-to-world poses (OpenCV axes) in the set's unit.
    intrinsics: (N, 3, 3) float64 K at the resolution of the image files.
    """

    name: str
    image_paths: list[Path]
    world_from_cam: np.ndarray
    intrinsics: np.ndarray
    image_sizes: list[tuple[int, int]]  # (width, height) per image

    def __len__(self) -> int:
        return len(self.image_paths)


@dataclass(frozen=True)
class StereoDepthPair:
    """A rectified stereo pair with GT disparity for the left image: depth up to scale.

    disparity: (H, W) float64 left-image disparity in pixels, NaN where unknown; pixel (x, y) of
    the left image matches (x − d, y) in the right one.
    depth: (H, W) float64 = 1 / disparity, i.e. depth in units of focal·baseline (unknown), NaN
    where unknown. Evaluate it only with scale-invariant alignment (`median`, `scale`, ...).
    valid: (H, W) bool, where the disparity is known.
    """

    name: str
    left_path: Path
    right_path: Path
    disparity: np.ndarray
    depth: np.ndarray
    valid: np.ndarray


def _world_from_cam(rot_world2cam: np.ndarray, t_world2cam: np.ndarray, where: str) -> np.ndarray:
    rot = np.asarray(rot_world2cam, dtype=np.float64)
    t = np.asarray(t_world2cam, dtype=np.float64)
    if rot.shape != (3, 3) or t.shape != (3,):
        raise Recon3rError(f"{where}: R must be 3×3 and t a 3-vector, got shapes {rot.shape} and {t.shape}")
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-5) or np.linalg.det(rot) < 0:
        raise Recon3rError(f"{where}: R is not a rotation matrix (RRᵀ ≠ I or det < 0)")
    # Published calibrations are orthonormal to ~1e-6; snap R to the nearest rotation (SVD) so
    # that the poses are exactly rigid.
    u, _, vh = np.linalg.svd(rot)
    rot = u @ vh
    out = np.eye(4)
    out[:3, :3] = rot.T
    out[:3, 3] = -rot.T @ t
    return out


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        from recon3r.errors import ImageLoadError

        raise ImageLoadError(f"cannot read image {path}: {exc}") from exc


def _from_cameras_json(path: Path) -> tuple[list[Path], list[np.ndarray], list[np.ndarray]]:
    try:
        data = json.loads(path.read_text())
        cameras = data["cameras"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Recon3rError(f"{path}: expected JSON with a 'cameras' list ({exc})") from exc
    files, intrinsics, poses = [], [], []
    for index, cam in enumerate(cameras):
        where = f"{path} camera {index}"
        try:
            files.append(path.parent / cam["file"])
            intrinsics.append(np.asarray(cam["K"], dtype=np.float64))
            poses.append(_world_from_cam(cam["R_world2cam"], cam["t_world2cam"], where))
        except (KeyError, TypeError, ValueError) as exc:
            raise Recon3rError(f"{where}: needs 'file', 'K', 'R_world2cam', 't_world2cam' ({exc})") from exc
    return files, intrinsics, poses


def _from_par_txt(path: Path) -> tuple[list[Path], list[np.ndarray], list[np.ndarray]]:
    """Middlebury `*_par.txt`: a count, then `name k11..k33 r11..r33 t1 t2 t3` per line."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    image_dir = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    files, intrinsics, poses = [], [], []
    for number, fields in enumerate(lines[1:], start=2):
        where = f"{path} line {number}"
        if len(fields) != 22:
            raise Recon3rError(f"{where}: expected a name and 21 numbers, got {len(fields)} fields")
        try:
            values = np.array([float(v) for v in fields[1:]])
        except ValueError as exc:
            raise Recon3rError(f"{where}: {exc}") from exc
        files.append(image_dir / fields[0])
        intrinsics.append(values[:9].reshape(3, 3))
        poses.append(_world_from_cam(values[9:18].reshape(3, 3), values[18:], where))
    if lines and lines[0] and lines[0][0].isdigit() and int(lines[0][0]) != len(files):
        raise Recon3rError(f"{path}: header announces {lines[0][0]} cameras but lists {len(files)}")
    return files, intrinsics, poses


def load_calibrated_ring(folder: str | Path) -> CalibratedImageSet:
    """Load a Middlebury multi-view ring such as `middlebury_dino_sparse_ring`.

    Reads `cameras*.json` (`file`, `K`, `R_world2cam`, `t_world2cam` per camera) when present,
    else the single `*_par.txt` in the folder. The calibration maps a world point X to pixel
    x ~ K·(R·X + t); it is returned as world_from_cam = [[Rᵀ, −Rᵀt], [0, 1]], with R first
    snapped to the nearest rotation (the files are orthonormal to ~1e-6).
    """
    root = Path(folder)
    if not root.is_dir():
        raise Recon3rError(f"benchmark folder {root} does not exist")
    json_files = sorted(root.glob("cameras*.json"))
    par_files = sorted(root.glob("*_par*.txt"))
    if json_files:
        files, intrinsics, poses = _from_cameras_json(json_files[0])
    elif len(par_files) == 1:
        files, intrinsics, poses = _from_par_txt(par_files[0])
    else:
        raise Recon3rError(
            f"{root}: expected a cameras*.json or exactly one *_par.txt calibration file, found {len(par_files)} of the latter"
        )
    if len(files) < 2:
        raise Recon3rError(f"{root}: a relative-pose set needs at least 2 cameras, got {len(files)}")
    for path, k in zip(files, intrinsics):
        if not path.is_file():
            raise Recon3rError(f"{root}: calibrated image {path} is missing")
        if k.shape != (3, 3):
            raise Recon3rError(f"{root}: K of {path.name} must be 3×3, got shape {k.shape}")
    return CalibratedImageSet(
        name=root.name,
        image_paths=files,
        world_from_cam=np.stack(poses),
        intrinsics=np.stack(intrinsics),
        image_sizes=[_image_size(p) for p in files],
    )


def _read_disparity(path: Path, scale: float) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            raw = np.asarray(
                image.convert("L") if image.mode not in ("L", "I", "I;16") else image, dtype=np.float64
            )
    except OSError as exc:
        raise Recon3rError(f"cannot read disparity map {path}: {exc}") from exc
    return np.where(raw > 0, raw / scale, np.nan)


def load_stereo_pair(folder: str | Path, disparity_scale: float = 4.0) -> StereoDepthPair:
    """Load a Middlebury 2003 stereo pair such as `middlebury2003_teddy`.

    Expects `im2.png` (left), `im6.png` (right) and `disp2.png` (left GT disparity). Disparity in
    pixels is the stored value / `disparity_scale` (4 for the quarter-size 2003 sets), 0 meaning
    unknown. Depth is 1/disparity: correct up to the unknown focal·baseline.
    """
    root = Path(folder)
    left, right, disp = root / "im2.png", root / "im6.png", root / "disp2.png"
    for path in (left, right, disp):
        if not path.is_file():
            raise Recon3rError(
                f"{root}: stereo set file {path.name} is missing (expected im2.png, im6.png, disp2.png)"
            )
    disparity = _read_disparity(disp, disparity_scale)
    if _image_size(left) != disparity.shape[::-1]:
        raise Recon3rError(
            f"{disp}: size {disparity.shape[::-1]} differs from the left image {_image_size(left)}"
        )
    valid = np.isfinite(disparity)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(valid, 1.0 / disparity, np.nan)
    return StereoDepthPair(
        name=root.name, left_path=left, right_path=right, disparity=disparity, depth=depth, valid=valid
    )


def load_real_set(folder: str | Path) -> CalibratedImageSet | StereoDepthPair:
    """Load a real benchmark folder, recognised by its files: a calibrated ring or a stereo pair."""
    root = Path(folder)
    if (root / "disp2.png").is_file():
        return load_stereo_pair(root)
    if any(root.glob("cameras*.json")) or any(root.glob("*_par*.txt")):
        return load_calibrated_ring(root)
    raise Recon3rError(
        f"{root}: not a known real benchmark set (expected cameras*.json / *_par.txt for a calibrated ring, "
        "or im2.png, im6.png, disp2.png for a stereo pair)"
    )
