"""Single-image inputs as OpenLRM expects them: an object cut out, recentred in a square, on white.

Two stages, as in the reference:
1. `prepare_object` (OpenLRM's offline `Preprocessor`): the foreground comes from the alpha
   channel when the image has one, otherwise from `estimate_foreground` (no network: the border
   colour plus connected components, instead of rembg); the object's bounding box is then scaled
   so its longer side fills (1 − border_ratio) of a square and centred in it (RGBA, transparent
   around);
2. `model_input` (the runner's `infer_single`): composite on white, resize to S × S with
   PyTorch's bicubic (align_corners=True, no antialiasing, aspect ratio not kept), clamp to [0, 1].
   No ImageNet mean/std normalisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from recon3r.errors import ImageLoadError

BORDER_RATIO = 0.2  # the reference's framing: the object spans 80% of the square


def load_image(path: str | Path) -> np.ndarray:
    """An image file → (H, W, 3 or 4) uint8 (RGBA kept when the file has alpha)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
            return np.array(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as err:
        raise ImageLoadError(f"cannot read image {path}: {err}") from None


def estimate_foreground(rgb: np.ndarray, tolerance: float = 0.12) -> np.ndarray:
    """(H, W) bool foreground of an object photographed on a plain background.

    The background colour is the median of the image border; pixels within `tolerance` (max
    channel difference, in [0, 1] units) of it that are connected to the border are background.
    Holes enclosed by the object stay foreground; of the remaining regions only those at least
    1% as large as the largest are kept (specks dropped).
    """
    from scipy import ndimage

    image = np.asarray(rgb[..., :3], dtype=np.float32) / 255.0
    border = np.concatenate((image[0], image[-1], image[:, 0], image[:, -1]))
    background_color = np.median(border, axis=0)
    similar = np.abs(image - background_color).max(axis=-1) <= tolerance
    labels, _ = ndimage.label(similar)
    edge_labels = np.unique(np.concatenate((labels[0], labels[-1], labels[:, 0], labels[:, -1])))
    background = np.isin(labels, edge_labels[edge_labels > 0])
    foreground = ~background
    parts, count = ndimage.label(foreground)
    if count > 1:
        sizes = np.bincount(parts.ravel())[1:]
        keep = np.flatnonzero(sizes >= 0.01 * sizes.max()) + 1
        foreground = np.isin(parts, keep)
    return foreground


def recenter(rgba: np.ndarray, size: int, border_ratio: float = BORDER_RATIO) -> np.ndarray:
    """Crop the alpha > 0 bounding box, scale its longer side to round(size·(1 − border_ratio)) and
    centre it in a transparent size × size RGBA image (area-averaged resampling)."""
    from PIL import Image

    ys, xs = np.nonzero(rgba[..., 3] > 0)
    if len(ys) == 0:
        raise ImageLoadError("the image has no foreground to reconstruct (empty mask)")
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    height, width = bottom - top, right - left
    scale = int(size * (1 - border_ratio)) / max(height, width)
    new_h, new_w = max(1, int(height * scale)), max(1, int(width * scale))
    crop = Image.fromarray(np.ascontiguousarray(rgba[top:bottom, left:right]), "RGBA")
    # Resample premultiplied colour so transparent pixels do not bleed into the edges.
    premultiplied = crop.convert("RGBa").resize((new_w, new_h), Image.Resampling.BOX).convert("RGBA")
    out = np.zeros((size, size, 4), dtype=np.uint8)
    row, col = (size - new_h) // 2, (size - new_w) // 2
    out[row:row + new_h, col:col + new_w] = np.asarray(premultiplied)
    return out


def prepare_object(image: np.ndarray, size: int = 512, border_ratio: float = BORDER_RATIO) -> np.ndarray:
    """(H, W, 3 or 4) uint8 → (size, size, 4) uint8 RGBA: foreground cut out, recentred, framed."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (3, 4) or image.dtype != np.uint8:
        raise ImageLoadError(f"expected an (H, W, 3 or 4) uint8 image, got {image.shape} {image.dtype}")
    if image.shape[-1] == 4 and (image[..., 3] < 255).any():
        rgba = image
    else:
        alpha = np.where(estimate_foreground(image), 255, 0).astype(np.uint8)
        rgba = np.concatenate((image[..., :3], alpha[..., None]), axis=-1)
    return recenter(rgba, size, border_ratio)


def model_input(image: np.ndarray, size: int) -> torch.Tensor:
    """(H, W, 3 or 4) uint8 → (1, 3, size, size) float32 in [0, 1], composited on white (the runner's steps)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None] / 255.0
    if tensor.shape[1] == 4:
        tensor = tensor[:, :3] * tensor[:, 3:] + (1 - tensor[:, 3:])
    tensor = F.interpolate(tensor, size=(size, size), mode="bicubic", align_corners=True)
    return tensor.clamp(0, 1)
