"""Captions: EXIF as text, free text, captions files, and focal lengths written into captions.

`recon3r.text.captions` is light (Pillow only). The text encoders that embed captions are model
parts and live in `recon3r.models.encoders.text`.
"""

from recon3r.text.captions import (
    CAPTION_KEYS,
    caption_from_exif,
    caption_from_intrinsics,
    captions_for_images,
    focal_35mm_equivalent,
    focal_mm_to_px,
    focal_px_to_mm,
    format_caption,
    load_captions_file,
    normalize_caption,
    parse_caption,
    scale_caption_focal,
)

__all__ = [
    "CAPTION_KEYS",
    "caption_from_exif",
    "caption_from_intrinsics",
    "captions_for_images",
    "focal_35mm_equivalent",
    "focal_mm_to_px",
    "focal_px_to_mm",
    "format_caption",
    "load_captions_file",
    "normalize_caption",
    "parse_caption",
    "scale_caption_focal",
]
