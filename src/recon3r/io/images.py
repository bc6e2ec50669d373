"""Load photos into network-ready views, following the reference DUSt3R resize/crop conventions.

Size 512 (or any other size but 224): the long side is scaled to `size`, then the image is
centre-cropped to multiples of 16; a square result is cropped to 4:3 unless `square_ok`.
Size 224: the short side is scaled to 224, then a 224×224 centre crop is taken.
LANCZOS is used when downscaling and BICUBIC when upscaling, as the reference does.

One deliberate difference: the reference rounds both resized sides independently, which can stretch
the short axis by up to half a pixel. Here the crop is resampled straight from the original with one
uniform scale, so `View.transform` maps pixels and intrinsics exactly. When the rounded size is exact
(most camera aspect ratios) the pixels equal the reference's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from recon3r.errors import ConfigError, ImageLoadError
from recon3r.scene import ImageTransform

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
MIN_SIDE = 16  # one patch of the pair models


@dataclass
class View:
    """One image as the pair model consumes it, in its true layout (portrait stays portrait).

    `img` is (1, 3, H, W) float32 in [-1, 1]; `true_shape` is (1, 2) int64 holding (H, W).
    `transform` maps between the original file's pixels and this network-resolution image.
    """

    img: torch.Tensor
    true_shape: torch.Tensor
    idx: int
    instance: str
    name: str
    transform: ImageTransform
    path: Path | None = None
    caption: str | None = None  # free text or EXIF-as-text, for the multimodal model

    @property
    def height(self) -> int:
        return int(self.img.shape[-2])

    @property
    def width(self) -> int:
        return int(self.img.shape[-1])

    def rgb(self) -> np.ndarray:
        """(H, W, 3) float32 RGB in [0, 1], the layout `recon3r.scene.Scene.images` uses."""
        return (self.img[0].permute(1, 2, 0).float().cpu().numpy() * 0.5 + 0.5).clip(0.0, 1.0)

    def as_model_input(self) -> dict:
        """The reference's view dict: `img`, `true_shape`, `idx`, `instance` (plus `caption`)."""
        return {"img": self.img, "true_shape": self.true_shape, "idx": self.idx, "instance": self.instance,
                "caption": self.caption or ""}


def load_images(
    paths_or_folder: str | os.PathLike | Sequence[str | os.PathLike],
    size: int = 512,
    square_ok: bool = False,
    *,
    min_images: int = 2,
    alpha_background: tuple[int, int, int] | None = (255, 255, 255),
    show_progress: bool = False,
) -> list[View]:
    """Load images from a folder or a list of files (folders in the list are expanded).

    Folders are listed in sorted order and only files with an image extension are taken; files named
    explicitly must be readable images. EXIF orientation is applied. Transparent images are
    composited on `alpha_background` (white by default); None drops the alpha channel as the
    reference does. 16-bit images are scaled to the 8-bit range.

    Raises ImageLoadError naming the file when a file cannot be read, when a folder holds no
    images, or when fewer than `min_images` images are found.
    """
    check_size(size)
    paths = list_images(paths_or_folder)
    if len(paths) < min_images:
        found = ", ".join(str(p) for p in paths) or "none"
        raise ImageLoadError(
            f"reconstruction needs {min_images} or more images, got {len(paths)} ({found}); "
            "pass more image files or a folder holding several images"
        )
    if show_progress:
        from recon3r.utils.progress import progress

        paths_iter: Iterable[Path] = progress(paths, desc="loading images", total=len(paths))
    else:
        paths_iter = paths
    return [load_view(path, idx, size=size, square_ok=square_ok, alpha_background=alpha_background)
            for idx, path in enumerate(paths_iter)]


def list_images(paths_or_folder: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Resolve a folder or a list of files/folders to image files (folder contents sorted by name)."""
    if isinstance(paths_or_folder, (str, os.PathLike)):
        entries = [Path(paths_or_folder)]
    else:
        entries = [Path(p) for p in paths_or_folder]
    out: list[Path] = []
    for entry in entries:
        if entry.is_dir():
            found = sorted(
                p for p in entry.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                raise ImageLoadError(
                    f"no images found in folder {entry} (looked for {', '.join(IMAGE_EXTENSIONS)})"
                )
            out.extend(found)
        elif entry.is_file():
            out.append(entry)
        else:
            raise ImageLoadError(f"image path {entry} does not exist")
    return out


def load_view(
    path: str | os.PathLike,
    idx: int = 0,
    *,
    size: int = 512,
    square_ok: bool = False,
    alpha_background: tuple[int, int, int] | None = (255, 255, 255),
) -> View:
    """Load one image file into a `View` with index `idx` (its `instance` is `str(idx)`)."""
    path = Path(path)
    image = read_rgb(path, alpha_background=alpha_background)
    try:
        transform = plan_resize(image.size, size=size, square_ok=square_ok)
    except ImageLoadError as err:
        raise ImageLoadError(f"{path}: {err}") from None
    return view_from_pil(resize_and_crop(image, transform, size), idx, name=path.name, transform=transform,
                         path=path)


def view_from_pil(image: Image.Image, idx: int, *, name: str, transform: ImageTransform,
                  path: Path | None = None) -> View:
    """Wrap an already resized/cropped RGB PIL image as a `View`."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    img = torch.from_numpy((arr - 0.5) / 0.5).permute(2, 0, 1)[None].contiguous()
    true_shape = torch.tensor([[image.height, image.width]], dtype=torch.int64)
    return View(img=img, true_shape=true_shape, idx=idx, instance=str(idx), name=name, transform=transform,
                path=path)


def check_image_file(path: str | os.PathLike, min_side: int = MIN_SIDE) -> tuple[int, int]:
    """(width, height) of an image file, read from its header; ImageLoadError naming the file when it
    cannot be read or a side is below `min_side` pixels. For commands that check inputs before compute."""
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"image path {path} does not exist")
    if path.is_dir():
        raise ImageLoadError(f"{path} is a folder, not an image file")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(f"{path} is not a readable image ({err})") from None
    if min(width, height) < min_side:
        raise ImageLoadError(f"{path}: image of size {width}x{height} is too small: each side must be at least "
                             f"{min_side} px")
    return width, height


def check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIDE:
        raise ConfigError(f"image size must be 224, 512 or another integer >= {MIN_SIDE}, got {size!r}")


def plan_resize(original_size: tuple[int, int], size: int = 512, square_ok: bool = False) -> ImageTransform:
    """The reference's resize + centre crop for an image of `original_size` = (width, height).

    Returns the uniform scale and the crop (in the resized image) as an `ImageTransform`.
    """
    check_size(size)
    w1, h1 = int(original_size[0]), int(original_size[1])
    if w1 <= 0 or h1 <= 0:
        raise ImageLoadError(f"image has an empty size {w1}x{h1}")
    long_side = max(w1, h1)
    # 224: the short side goes to 224 by scaling the long side by the aspect ratio, as the reference does.
    target_long = round(size * max(w1 / h1, h1 / w1)) if size == 224 else size
    w, h = (int(round(x * target_long / long_side)) for x in (w1, h1))
    cx, cy = w // 2, h // 2
    if size == 224:
        halfw = halfh = min(cx, cy)
    else:
        halfw, halfh = ((2 * cx) // 16) * 8, ((2 * cy) // 16) * 8
        if not square_ok and w == h:
            halfh = (3 * halfw // 4) // 8 * 8  # 4:3 landscape, as the reference (exact for 512)
    width, height = 2 * halfw, 2 * halfh
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageLoadError(
            f"image of size {w1}x{h1} is too elongated: it crops to {width}x{height} at size {size}"
        )
    if min(w1, h1) < MIN_SIDE:  # upscaling a thumbnail or a 1x1 pixel only invents the scene
        raise ImageLoadError(f"image of size {w1}x{h1} is too small: each side must be at least {MIN_SIDE} px")
    return ImageTransform(
        original_size=(w1, h1),
        scale=target_long / long_side,
        crop_offset=(float(cx - halfw), float(cy - halfh)),
        network_size=(width, height),
    )


def resize_and_crop(image: Image.Image, transform: ImageTransform, size: int | None = None) -> Image.Image:
    """Resample the network crop of `transform` from the original RGB `image` with one uniform scale.

    LANCZOS when downscaling, BICUBIC when upscaling (the reference's choice, made on the long side).
    """
    w1, h1 = image.size
    if (w1, h1) != tuple(transform.original_size):
        raise ValueError(f"image size {image.size} does not match the transform's {transform.original_size}")
    s = transform.scale
    x0, y0 = transform.crop_offset
    width, height = transform.network_size
    if s == 1.0:
        return image.crop((int(x0), int(y0), int(x0) + width, int(y0) + height))
    resample = Image.Resampling.LANCZOS if s < 1.0 else Image.Resampling.BICUBIC
    # The crop in original-pixel edge coordinates (pixel centres at +0.5).
    box = [x0 / s, y0 / s, (x0 + width) / s, (y0 + height) / s]
    overshoot = max(box[2] - w1, box[3] - h1)
    if overshoot > 1e-6:
        # The reference rounded the resized size up: the crop reaches a fraction of a pixel past the
        # border. Extend the image by replicating its edge so the scale stays uniform.
        pad = math.ceil(overshoot) + 1
        arr = np.pad(np.asarray(image), ((0, pad), (0, pad), (0, 0)), mode="edge")
        image = Image.fromarray(arr)
        w1, h1 = image.size
    box = [min(max(b, 0.0), lim) for b, lim in zip(box, (w1, h1, w1, h1))]
    return image.resize((width, height), resample, box=tuple(box))


def read_rgb(path: str | os.PathLike, alpha_background: tuple[int, int, int] | None = (255, 255, 255)
             ) -> Image.Image:
    """Open an image file as 8-bit RGB with EXIF orientation applied. Raises ImageLoadError naming it."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            fmt = opened.format
            try:
                image = ImageOps.exif_transpose(opened)
            except Exception as err:  # malformed EXIF blocks raise assorted errors inside Pillow
                raise ImageLoadError(f"could not apply the EXIF orientation of {path}: {err}") from None
            if image is opened:
                image = opened.copy()
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise ImageLoadError(f"{path} is not a readable image ({err})") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(f"could not read image {path}: {err}") from None
    try:
        return to_rgb(image, fmt, alpha_background)
    except (OSError, ValueError) as err:
        raise ImageLoadError(f"could not convert image {path} (mode {image.mode}) to RGB: {err}") from None


def to_rgb(image: Image.Image, fmt: str | None = None,
           alpha_background: tuple[int, int, int] | None = (255, 255, 255)) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (16-bit and float images rescaled, alpha composited)."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(image).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and (fmt == "PNG" or arr.max(initial=0) > 255)):
            arr = arr / 65535.0 * 255.0  # 16-bit range (PNG has no 32-bit integer images)
        elif mode == "F" and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0  # float images in [0, 1]
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha and alpha_background is not None:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*alpha_background, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # avoids Pillow's warning on palette transparency
    return image.convert("RGB")
