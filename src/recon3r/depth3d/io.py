"""Depth files in, coloured point clouds out: the file boundary of the depth-to-3D module.

Depth files: `.npy` (an (H, W) or (H, W, 1) numeric array) or a single-channel PNG (16-bit, or 8-bit
grey). Values are depth (not disparity) in any unit; 0 marks missing pixels. Errors name the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recon3r.errors import Recon3rError

DEPTH_SUFFIXES = (".npy", ".png")


class DepthFileError(Recon3rError):
    """A depth file could not be read or does not hold a usable depth map."""


def load_depth(path: str | Path) -> np.ndarray:
    """Read a depth map as (H, W) float64; DepthFileError naming `path` when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise DepthFileError(f"{path}: not a readable .npy array ({err})") from None
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.dtype.kind not in "uif":
            raise DepthFileError(f"{path}: expected a numeric depth array, got dtype {array.dtype}")
    elif suffix == ".png":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
                    raise DepthFileError(f"{path}: expected a single-channel (16-bit or grey) depth PNG, "
                                         f"got mode {image.mode}")
                array = np.array(image)
        except (UnidentifiedImageError, OSError) as err:
            raise DepthFileError(f"{path}: not a readable PNG ({err})") from None
    else:
        raise DepthFileError(f"{path}: unsupported depth file type {suffix or '(none)'}; "
                             f"expected one of {', '.join(DEPTH_SUFFIXES)}")
    if array.ndim != 2 or min(array.shape) < 2:
        raise DepthFileError(f"{path}: expected an (H, W) depth map, got shape {array.shape}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise DepthFileError(f"{path}: {bad} pixel(s) are NaN or infinite; mark missing depth with 0")
    if (array > 0).sum() < 16:
        raise DepthFileError(f"{path}: fewer than 16 pixels have depth > 0; is this a depth map?")
    return array


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


def depth_file_to_ply(depth_path: str | Path, out: str | Path, *, image: str | Path | None = None,
                      focal: float | None = None, weights: str | Path | None = None):
    """Read a depth file, recover its shift and focal, write the coloured cloud as PLY; returns the `Recovery`.

    `focal` (pixels) is the starting guess (None: the model's default field of view); `weights` is a
    saved `Depth3DModel` folder (None: the shipped model). Points are camera-frame, OpenCV axes, in the
    depth file's unit (the overall scale of an affine-invariant depth stays unknown).
    """
    from recon3r.depth3d.recover import load_default_model, load_depth3d_model, recover_shift_and_focal
    from recon3r.io.exports.ply import write_ply

    depth = load_depth(depth_path)
    if focal is not None and not focal > 0:
        raise Recon3rError(f"--focal must be a positive number of pixels, got {focal}")
    colours = load_colours(image, depth.shape) if image is not None else depth_colours(depth)
    model = load_depth3d_model(weights) if weights is not None else load_default_model()
    result = recover_shift_and_focal(depth, focal, model)
    valid = result.valid.numpy()
    write_ply(out, result.points.numpy()[valid], colours[valid])
    return result
