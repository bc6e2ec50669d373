"""Depth files in, coloured point clouds and recovered cameras out: the file boundary of the depth-to-3D module.

Depth files (`load_depth`), values in any unit, 0 (or NaN / inf) marking missing pixels:
- `.npy`: an (H, W) or (H, W, 1) numeric array;
- `.png`: a single-channel PNG, 16-bit (or 8-bit grey);
- `.exr`: a float EXR (one channel, or the one named Z / depth / R / Y), through the OpenEXR package
  (`pip install 'recon3r[exr]'`);
- `.pfm`: a Portable Float Map (grey `Pf`, or the first channel of a colour `PF`), as MiDaS writes.
A disparity map (`disparity=True`) is turned into depth as 1 / disparity (0 where disparity ≤ 0).
Monocular networks give disparity up to scale and shift; its inverse is then only roughly an
affine depth, so recovery is best on depth-like outputs. Errors name the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recon3r.errors import Recon3rError

DEPTH_SUFFIXES = (".npy", ".png", ".exr", ".pfm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class DepthFileError(Recon3rError):
    """A depth file could not be read or does not hold a usable depth map."""


def load_depth(path: str | Path, disparity: bool = False) -> np.ndarray:
    """Read a depth (or, with `disparity`, a disparity) map as (H, W) float64 depth, 0 where missing.

    DepthFileError naming `path` when it is not one (module docstring for the formats).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = _read_npy(path)
    elif suffix == ".png":
        array = _read_png(path)
    elif suffix == ".exr":
        from recon3r.data.depth3d_sources import RawDepthError, read_exr_depth

        try:
            array = read_exr_depth(path)
        except RawDepthError as err:
            raise DepthFileError(str(err)) from None
    elif suffix == ".pfm":
        array = read_pfm(path)
    else:
        raise DepthFileError(f"{path}: unsupported depth file type {suffix or '(none)'}; "
                             f"expected one of {', '.join(DEPTH_SUFFIXES)}")
    if array.ndim != 2 or min(array.shape) < 2:
        raise DepthFileError(f"{path}: expected an (H, W) depth map, got shape {array.shape}")
    array = array.astype(np.float64)
    if suffix in (".npy", ".png") and not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise DepthFileError(f"{path}: {bad} pixel(s) are NaN or infinite; mark missing depth with 0")
    array = np.where(np.isfinite(array) & (array > 0), array, 0.0)  # float formats mark holes with NaN / inf
    if disparity:
        array = np.where(array > 0, 1.0 / np.where(array > 0, array, 1.0), 0.0)
    if (array > 0).sum() < 16:
        raise DepthFileError(f"{path}: fewer than 16 pixels have {'disparity' if disparity else 'depth'} > 0; "
                             "is this a depth map?")
    return array


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DepthFileError(f"{path}: not a readable .npy array ({err})") from None
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype.kind not in "uif":
        raise DepthFileError(f"{path}: expected a numeric depth array, got dtype {array.dtype}")
    return array


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
                raise DepthFileError(f"{path}: expected a single-channel (16-bit or grey) depth PNG, got mode {image.mode}")
            return np.array(image)
    except (UnidentifiedImageError, OSError) as err:
        raise DepthFileError(f"{path}: not a readable PNG ({err})") from None


def read_pfm(path: str | Path) -> np.ndarray:
    """(H, W) float32 of a PFM file, top row first (PFM stores rows bottom-up; a negative scale means little-endian)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            kind = handle.readline().strip()
            if kind not in (b"Pf", b"PF"):
                raise DepthFileError(f"{path}: not a PFM file (header {kind[:8]!r}, expected Pf or PF)")
            dims = handle.readline().split()
            scale = float(handle.readline().strip())
            width, height = int(dims[0]), int(dims[1])
            channels = 3 if kind == b"PF" else 1
            data = np.frombuffer(handle.read(), dtype="<f4" if scale < 0 else ">f4")
    except (OSError, ValueError, IndexError) as err:
        raise DepthFileError(f"{path}: not a readable PFM file ({err})") from None
    if data.size != width * height * channels:
        raise DepthFileError(f"{path}: PFM holds {data.size} values, expected {width}×{height}×{channels}")
    return np.flipud(data.reshape(height, width, channels)[..., 0]).astype(np.float32)


def write_pfm(path: str | Path, array: np.ndarray) -> None:
    """Write an (H, W) float array as a grey little-endian PFM (rows bottom-up, as the format stores them)."""
    array = np.asarray(array, dtype="<f4")
    with Path(path).open("wb") as handle:
        handle.write(b"Pf\n" + f"{array.shape[1]} {array.shape[0]}\n-1.0\n".encode())
        handle.write(np.ascontiguousarray(np.flipud(array)).tobytes())


def load_colours(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 colours of an image file, resized to the depth map's `shape` = (H, W) if needed."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            if rgb.size != (shape[1], shape[0]):
                rgb = rgb.resize((shape[1], shape[0]), Image.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise Recon3rError(f"{path}: not a readable image ({err})") from None


def depth_colours(depth: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 grey shading for a point cloud without an image: near is bright, far is dark."""
    valid = depth > 0
    near, far = np.percentile(depth[valid], [2, 98]) if valid.any() else (0.0, 1.0)
    shade = 1 - np.clip((depth - near) / max(far - near, 1e-9), 0, 1)
    grey = (40 + 215 * shade).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def recovery_summary(result, source: str | Path) -> dict:
    """The JSON-ready numbers of one `Recovery` (unbatched): shift, focal and its field of view."""
    width = result.depth.shape[-1]
    focal = float(result.focal)
    summary = {
        "depth": str(source), "shift": float(result.shift), "relative_shift": float(result.relative_shift),
        "focal_px": focal, "focal_guess_px": float(result.focal_guess), "focal_scale": float(result.focal_scale),
        "horizontal_fov_deg": math.degrees(2 * math.atan(width / 2 / focal)), "width": int(width),
        "height": int(result.depth.shape[-2]), "points": int(result.valid.sum()),
    }
    if result.median_depth_m is not None:
        summary["median_depth_m"] = float(result.median_depth_m)
    return summary


@dataclass
class DepthJob:
    """One map to recover: its depth file, optional colour image, and where its PLY goes."""

    depth: Path
    ply: Path
    image: Path | None = None


def recover_depth_file(job: DepthJob, model, *, focal: float | None = None, disparity: bool = False) -> dict:
    """Read `job.depth`, recover its shift and focal with `model`, write the coloured cloud to `job.ply`.

    Points are camera-frame, OpenCV axes, in the depth file's unit (the overall scale of an
    affine-invariant depth stays unknown). Returns `recovery_summary`.
    """
    from recon3r.depth3d.recover import recover_shift_and_focal
    from recon3r.io.exports.ply import write_ply

    depth = load_depth(job.depth, disparity=disparity)
    if focal is not None and not focal > 0:
        raise Recon3rError(f"--focal must be a positive number of pixels, got {focal}")
    colours = load_colours(job.image, depth.shape) if job.image is not None else depth_colours(depth)
    result = recover_shift_and_focal(depth, focal, model)
    valid = result.valid.numpy()
    write_ply(job.ply, result.points.numpy()[valid], colours[valid])
    return recovery_summary(result, job.depth)


def depth_jobs(depth_dir: Path, out_dir: Path, image_dir: Path | None = None) -> list[DepthJob]:
    """One job per depth file of a folder (sorted), PLY `<stem>.ply` in `out_dir`, image `<stem>.*` from `image_dir`."""
    files = sorted(p for p in depth_dir.iterdir() if p.is_file() and p.suffix.lower() in DEPTH_SUFFIXES)
    if not files:
        raise DepthFileError(f"{depth_dir}: no depth file ({', '.join(DEPTH_SUFFIXES)}) in this folder")
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        twice = sorted({s for s in stems if stems.count(s) > 1})
        raise DepthFileError(f"{depth_dir}: several depth files share the name {twice[0]} (e.g. .npy and .png); "
                             "keep one per name")
    jobs = []
    for path in files:
        image = None
        if image_dir is not None:
            image = next((image_dir / f"{path.stem}{s}" for s in IMAGE_SUFFIXES
                          if (image_dir / f"{path.stem}{s}").is_file()), None)
        jobs.append(DepthJob(path, out_dir / f"{path.stem}.ply", image))
    return jobs


def recover_depth_folder(jobs: list[DepthJob], model, *, focal: float | None = None, disparity: bool = False,
                         on_map: Callable[[DepthJob], None] | None = None) -> list[dict]:
    """`recover_depth_file` for each job (`on_map(job)` after each); returns the summaries in order."""
    summaries = []
    for job in jobs:
        summaries.append(recover_depth_file(job, model, focal=focal, disparity=disparity))
        if on_map is not None:
            on_map(job)
    return summaries


def write_summary(path: Path, summaries: list[dict] | dict) -> None:
    path.write_text(json.dumps(summaries, indent=1) + "\n", encoding="utf-8")
