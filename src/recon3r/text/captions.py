"""Captions for the multimodal pair model: camera metadata written as text, or free text.

A caption is a plain string, one per view. Camera metadata is written in the Exif-as-Language
style: `"Key: value"` pairs joined by `", "`, e.g.

    "Make: Canon, Model: Canon EOS 5D, LensModel: EF50mm f/1.4 USM, FocalLength: 50.0 mm,
     FocalLengthIn35mmFilm: 50, FNumber: f/1.4, ExposureTime: 1/125, ISOSpeedRatings: 400,
     ImageWidth: 4368, ImageHeight: 2912"

Keys always appear in the order of `CAPTION_KEYS`; a tag the image lacks is left out. Values
are cleaned so that equal cameras give equal text: focal length to one decimal in mm, the 35 mm
equivalent as an integer, ISO as a plain integer, exposure as a fraction (`1/125`) below one
second, F-number as `f/2.8`. Text values (make, model, lens) that are longer than
`MAX_TEXT_LENGTH` characters or contain characters other than letters, digits, spaces and
`. / - + _ ( ) & '` are free text and become `Unknown`; commas are separators, so a comma in a
value is replaced by a space. Image size is the size as displayed, after the EXIF orientation
is applied (as `recon3r.io.images` loads images).

A caption may also be any free text, which passes through unchanged, or missing (`None`), for
which the model uses a learned "no caption" embedding.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

from recon3r.errors import ConfigError, ImageLoadError
from recon3r.utils.checks import normalize_caption

# Order of the keys in every caption this module writes.
CAPTION_KEYS: tuple[str, ...] = (
    "Make",
    "Model",
    "LensModel",
    "FocalLength",
    "FocalLengthIn35mmFilm",
    "FNumber",
    "ExposureTime",
    "ISOSpeedRatings",
    "ImageWidth",
    "ImageHeight",
)
# Keys that describe the camera; an image whose EXIF has none of them gets no caption.
CAMERA_KEYS: frozenset[str] = frozenset(CAPTION_KEYS) - {"ImageWidth", "ImageHeight"}

UNKNOWN = "Unknown"
# Longer text values are treated as free text. (Exif-as-Language used 20; 32 keeps model
# names such as "Canon EOS 5D Mark III" or "EF24-105mm f/4L IS USM".)
MAX_TEXT_LENGTH = 32
# Diagonal of a 36 x 24 mm full frame, for the 35 mm equivalent focal length.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)

_ALLOWED_TEXT = re.compile(r"[A-Za-z0-9 ./\-+_()&']*")
_TEXT_KEYS = ("Make", "Model", "LensModel")
# EXIF orientations 5..8 rotate by 90 degrees, so the displayed width is the stored height.
_TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)


# ------------------------------------------------------------------ public API
def caption_from_exif(image: str | os.PathLike | Image.Image, max_text_length: int = MAX_TEXT_LENGTH) -> str | None:
    """The EXIF caption of an image file or PIL image, or None when it has no camera EXIF.

    Reads Make, Model, LensModel, FocalLength, FocalLengthIn35mmFilm, FNumber, ExposureTime and
    ISOSpeedRatings (PhotographicSensitivity) from IFD0 and the Exif IFD, plus the displayed
    image size. Raises `ImageLoadError` naming the file when it cannot be opened as an image.
    """
    if isinstance(image, Image.Image):
        return _caption_from_pil(image, max_text_length)
    path = Path(image)
    try:
        with Image.open(path) as opened:  # lazy: reads the header, not the pixels
            return _caption_from_pil(opened, max_text_length)
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ImageLoadError(f"{path}: cannot read it as an image ({err})") from None


def exif_fields(image: Image.Image) -> dict[str, Any]:
    """The raw EXIF values of `CAPTION_KEYS` present in `image` (before cleaning), plus its size."""
    exif = image.getexif()
    base = ExifTags.Base
    merged: dict[int, Any] = dict(exif)
    merged.update(exif.get_ifd(ExifTags.IFD.Exif))  # the Exif IFD wins over stray IFD0 copies
    tags = {
        "Make": base.Make,
        "Model": base.Model,
        "LensModel": base.LensModel,
        "FocalLength": base.FocalLength,
        "FocalLengthIn35mmFilm": base.FocalLengthIn35mmFilm,
        "FNumber": base.FNumber,
        "ExposureTime": base.ExposureTime,
        "ISOSpeedRatings": base.ISOSpeedRatings,  # 0x8827, called PhotographicSensitivity in EXIF 2.3
    }
    fields = {key: merged[tag] for key, tag in tags.items() if tag in merged}
    width, height = image.size
    if merged.get(base.Orientation) in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    fields["ImageWidth"], fields["ImageHeight"] = width, height
    return fields


def format_caption(fields: Mapping[str, Any], max_text_length: int = MAX_TEXT_LENGTH) -> str | None:
    """Clean raw values and join them as `"Key: value, ..."` in `CAPTION_KEYS` order.

    Keys outside `CAPTION_KEYS` raise `ConfigError`; empty text values are left out. Returns
    None when no camera key (anything but the image size) remains.
    """
    unknown = sorted(set(fields) - set(CAPTION_KEYS))
    if unknown:
        raise ConfigError(f"caption fields {unknown} are not EXIF caption keys; use {list(CAPTION_KEYS)}")
    parts = []
    for key in CAPTION_KEYS:
        if key not in fields or fields[key] is None:
            continue
        value = clean_value(key, fields[key], max_text_length)
        if value:
            parts.append((key, value))
    if not any(key in CAMERA_KEYS for key, _ in parts):
        return None
    return ", ".join(f"{key}: {value}" for key, value in parts)


def clean_value(key: str, value: Any, max_text_length: int = MAX_TEXT_LENGTH) -> str:
    """One EXIF value as caption text (see the module docstring for the rules).

    Returns "" for an empty text value (the key is then left out) and `Unknown` for a value that
    cannot be read (a zero or non-finite number, free text).
    """
    if key in _TEXT_KEYS:
        return _clean_text(value, max_text_length)
    if key in ("ImageWidth", "ImageHeight", "ISOSpeedRatings", "FocalLengthIn35mmFilm"):
        number = _to_number(value)
        return UNKNOWN if number is None else str(round(number))
    number = _to_number(value)
    if number is None:
        return UNKNOWN
    if key == "FocalLength":
        return f"{number:.1f} mm"
    if key == "FNumber":
        return f"f/{number:.1f}"
    if key == "ExposureTime":
        return format_exposure(number)
    raise ConfigError(f"caption field {key!r} is not an EXIF caption key; use {list(CAPTION_KEYS)}")


def format_exposure(seconds: float) -> str:
    """Exposure time as text: `1/125` for 1/N of a second, else the value to 3 digits (`0.4`, `2.5`)."""
    if not math.isfinite(seconds) or seconds <= 0:
        return UNKNOWN
    if seconds < 1:
        inverse = 1.0 / seconds
        nearest = round(inverse)
        if nearest >= 1 and abs(inverse - nearest) <= 0.02 * inverse:
            return f"1/{nearest}"
    return f"{seconds:.3g}"


def focal_px_to_mm(focal_px: float, image_width_px: float, sensor_width_mm: float = 36.0) -> float:
    """Focal length in mm of a pinhole camera whose image spans `sensor_width_mm` horizontally."""
    return focal_px * sensor_width_mm / image_width_px


def focal_mm_to_px(focal_mm: float, image_width_px: float, sensor_width_mm: float = 36.0) -> float:
    """Inverse of `focal_px_to_mm`: focal length in pixels of the horizontal axis."""
    return focal_mm * image_width_px / sensor_width_mm


def focal_35mm_equivalent(focal_px: float, image_width_px: float, image_height_px: float | None = None) -> float:
    """The 35 mm equivalent focal length (mm) of a pinhole camera with square pixels.

    With the image height, the diagonal convention that cameras use (the image diagonal maps to
    the 43.27 mm diagonal of a 36 x 24 mm frame); without it, the width maps to 36 mm. Either way
    it does not depend on the sensor size.
    """
    if image_height_px is None:
        return focal_px * 36.0 / image_width_px
    return focal_px * FULL_FRAME_DIAGONAL_MM / math.hypot(image_width_px, image_height_px)


def caption_from_intrinsics(
    focal_px: float,
    image_width_px: int,
    sensor_width_mm: float = 36.0,
    *,
    image_height_px: int | None = None,
    make: str | None = None,
    model: str | None = None,
    lens_model: str | None = None,
    include_focal_mm: bool = True,
    include_35mm: bool = True,
) -> str:
    """An EXIF-style caption for a pinhole camera of known focal length (e.g. a procedural scene).

    `focal_px` is the horizontal focal length in pixels of an image `image_width_px` wide whose
    sensor is `sensor_width_mm` wide; the caption gives `FocalLength` in mm (one decimal) and
    `FocalLengthIn35mmFilm` (see `focal_35mm_equivalent`), then the image size. The caption has
    the same format as `caption_from_exif`.
    """
    for name, value in (("focal_px", focal_px), ("image_width_px", image_width_px), ("sensor_width_mm", sensor_width_mm)):
        _check_positive(name, value)
    if image_height_px is not None:
        _check_positive("image_height_px", image_height_px)
    if not (include_focal_mm or include_35mm):
        raise ConfigError("caption_from_intrinsics: include_focal_mm and include_35mm are both False: nothing to write")
    fields: dict[str, Any] = {"Make": make, "Model": model, "LensModel": lens_model}
    if include_focal_mm:
        fields["FocalLength"] = focal_px_to_mm(focal_px, image_width_px, sensor_width_mm)
    if include_35mm:
        fields["FocalLengthIn35mmFilm"] = focal_35mm_equivalent(focal_px, image_width_px, image_height_px)
    fields["ImageWidth"] = image_width_px
    if image_height_px is not None:
        fields["ImageHeight"] = image_height_px
    caption = format_caption(fields)
    assert caption is not None  # a focal length is always there
    return caption


def parse_caption(caption: str | None) -> dict[str, str]:
    """Best-effort inverse of `format_caption`: the `"Key: value"` pairs of a caption.

    Segments without `": "` (free text) are ignored, so free text gives `{}`.
    """
    if not caption:
        return {}
    pairs = {}
    for segment in caption.split(", "):
        key, sep, value = segment.partition(": ")
        if sep and key.strip() and " " not in key.strip():
            pairs[key.strip()] = value.strip()
    return pairs


def scale_caption_focal(caption: str | None, factor: float) -> str | None:
    """The caption with its `FocalLength` and `FocalLengthIn35mmFilm` multiplied by `factor`.

    A deliberately wrong caption (e.g. `factor=2`: the camera claims twice its focal length) tells
    whether a multimodal model reads the number. Both values are rewritten in this module's format;
    every other field, and a caption without a readable focal length (free text, None), is
    returned unchanged.
    """
    _check_positive_factor(factor)
    pairs = parse_caption(caption)
    if caption is None or not any(key in pairs for key in ("FocalLength", "FocalLengthIn35mmFilm")):
        return caption
    segments = []
    for segment in caption.split(", "):
        key, sep, value = segment.partition(": ")
        number = _leading_number(value) if sep and key.strip() in ("FocalLength", "FocalLengthIn35mmFilm") else None
        if number is not None:
            segment = f"{key}: {clean_value(key.strip(), number * factor)}"
        segments.append(segment)
    return ", ".join(segments)


def load_captions_file(path: str | os.PathLike) -> dict[str, str | None]:
    """Read a `--captions` JSON file: an object mapping image file names to captions.

    A caption is a string or null (no caption); blank strings count as null. Raises
    `ConfigError` naming the file, and the key where a value is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"captions file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"captions file {path} cannot be read: {err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"captions file {path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f'captions file {path} must hold a JSON object {{"image.jpg": "caption", ...}}, '
            f"not a {type(data).__name__}"
        )
    captions: dict[str, str | None] = {}
    for name, caption in data.items():
        if caption is not None and not isinstance(caption, str):
            raise ConfigError(
                f"captions file {path}: the caption of {name!r} must be a string or null, "
                f"got {type(caption).__name__} {caption!r}"
            )
        captions[name] = normalize_caption(caption)
    return captions


def captions_for_images(
    captions: Mapping[str, str | None] | None,
    image_paths: Sequence[str | os.PathLike],
    *,
    exif_fallback: bool = False,
    source: str = "captions",
) -> list[str | None]:
    """One caption per image, in the order of `image_paths`.

    An image's caption is looked up in `captions` by its path as given, then by its file name;
    failing both it is read from EXIF when `exif_fallback`, else None. A mapping whose keys
    match none of the images, or a file name shared by two images, raises `ConfigError`
    (`source` names the mapping in the message, e.g. the captions file).
    """
    captions = dict(captions or {})
    names = [Path(p).name for p in image_paths]
    if captions:
        matched = [str(p) in captions or name in captions for p, name in zip(image_paths, names)]
        if names and not any(matched):
            raise ConfigError(
                f"{source}: none of its keys {_preview(list(captions))} names one of the images "
                f"{_preview(names)}; keys are image file names such as {names[0]!r}"
            )
        for name in set(names):
            if names.count(name) > 1 and name in captions:
                raise ConfigError(
                    f"{source}: key {name!r} is ambiguous: {names.count(name)} images share that file "
                    "name; key them by their full path instead"
                )
    result: list[str | None] = []
    for path, name in zip(image_paths, names):
        if str(path) in captions:
            result.append(normalize_caption(captions[str(path)]))
        elif name in captions:
            result.append(normalize_caption(captions[name]))
        elif exif_fallback:
            result.append(caption_from_exif(path))
        else:
            result.append(None)
    return result


# ------------------------------------------------------------------ helpers
def _caption_from_pil(image: Image.Image, max_text_length: int) -> str | None:
    return format_caption(exif_fields(image), max_text_length)


def _clean_text(value: Any, max_text_length: int) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = " ".join(str(value).replace("\x00", " ").replace(",", " ").split())
    if not text:
        return ""
    if len(text) > max_text_length or not _ALLOWED_TEXT.fullmatch(text):
        return UNKNOWN
    return text


def _to_number(value: Any) -> float | None:
    """A finite positive number from an int, float, IFDRational, (num, den) pair or numeric text."""
    if isinstance(value, (tuple, list)):  # e.g. ISOSpeedRatings written as a list: the first one
        if not value:
            return None
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="ignore")
    if isinstance(value, str):
        match = re.search(r"\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?", value)
        if match is None:
            return None
        text = match.group(0)
        num, _, den = text.partition("/")
        number = float(num) / float(den) if den and float(den) != 0 else float(num)
    else:
        try:
            number = float(value)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
    if not math.isfinite(number) or number <= 0:
        return None
    return number


def _check_positive_factor(factor: float) -> None:
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
        raise ConfigError(f"scale_caption_focal: factor must be a finite positive number, got {factor!r}")


def _leading_number(value: str) -> float | None:
    """18.3 of "18.3 mm", 27 of "27"; None when the value does not start with a finite number."""
    match = re.match(r"\s*([0-9]+(?:\.[0-9]*)?)", value)
    return float(match.group(1)) if match else None


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"caption_from_intrinsics: {name} must be a finite positive number, got {value!r}")


def _preview(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(item) for item in items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"
