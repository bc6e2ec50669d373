"""EXIF captions, caption cleaning, captions from intrinsics, captions files."""

from __future__ import annotations

import json
import math

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from recon3r.errors import ConfigError, ImageLoadError
from recon3r.text import (
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
from recon3r.text.captions import clean_value, format_exposure

TAG = ExifTags.Base


def write_jpeg(path, size=(64, 48), ifd0=None, exif_ifd=None):
    """A JPEG with the given IFD0 and Exif-IFD tags (none: no EXIF at all)."""
    image = Image.new("RGB", size, (120, 80, 40))
    if ifd0 is None and exif_ifd is None:
        image.save(path, "JPEG")
        return path
    exif = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for tag, value in (exif_ifd or {}).items():
        sub[tag] = value
    image.save(path, "JPEG", exif=exif)
    return path


CANON_IFD0 = {TAG.Make: "Canon", TAG.Model: "Canon EOS 5D"}
CANON_EXIF = {
    TAG.FocalLength: IFDRational(50, 1),
    TAG.FocalLengthIn35mmFilm: 50,
    TAG.FNumber: IFDRational(14, 10),
    TAG.ExposureTime: IFDRational(1, 125),
    TAG.ISOSpeedRatings: 400,
    TAG.LensModel: "EF50mm f/1.4 USM",
}


# ---------------------------------------------------------------- caption_from_exif
def test_jpeg_with_exif_gives_the_cleaned_caption(tmp_path):
    path = write_jpeg(tmp_path / "canon.jpg", (64, 48), CANON_IFD0, CANON_EXIF)
    assert caption_from_exif(path) == (
        "Make: Canon, Model: Canon EOS 5D, LensModel: EF50mm f/1.4 USM, FocalLength: 50.0 mm, "
        "FocalLengthIn35mmFilm: 50, FNumber: f/1.4, ExposureTime: 1/125, ISOSpeedRatings: 400, "
        "ImageWidth: 64, ImageHeight: 48"
    )


def test_jpeg_without_exif_gives_none(tmp_path):
    assert caption_from_exif(write_jpeg(tmp_path / "plain.jpg")) is None


def test_exif_without_camera_tags_gives_none(tmp_path):
    path = write_jpeg(tmp_path / "rotated.jpg", ifd0={TAG.Orientation: 1, TAG.Software: "GIMP"})
    assert caption_from_exif(path) is None


def test_pil_image_and_path_give_the_same_caption(tmp_path):
    path = write_jpeg(tmp_path / "canon.jpg", (64, 48), CANON_IFD0, CANON_EXIF)
    with Image.open(path) as image:
        assert caption_from_exif(image) == caption_from_exif(str(path))


def test_rotated_image_reports_its_displayed_size(tmp_path):
    path = write_jpeg(tmp_path / "portrait.jpg", (64, 48), {**CANON_IFD0, TAG.Orientation: 6}, {})
    fields = parse_caption(caption_from_exif(path))
    assert (fields["ImageWidth"], fields["ImageHeight"]) == ("48", "64")


def test_tags_are_cleaned_long_and_free_text_become_unknown(tmp_path):
    path = write_jpeg(
        tmp_path / "odd.jpg",
        ifd0={TAG.Make: "NIKON CORPORATION", TAG.Model: "A very long camera model name that rambles on"},
        exif_ifd={TAG.FocalLength: IFDRational(183, 10), TAG.ISOSpeedRatings: (800, 1600),
                  TAG.LensModel: "lens: my favourite!", TAG.ExposureTime: IFDRational(5, 2)},
    )
    fields = parse_caption(caption_from_exif(path))
    assert fields == {
        "Make": "NIKON CORPORATION", "Model": "Unknown", "LensModel": "Unknown", "FocalLength": "18.3 mm",
        "ExposureTime": "2.5", "ISOSpeedRatings": "800", "ImageWidth": "64", "ImageHeight": "48",
    }


def test_unreadable_files_raise_image_load_error_naming_them(tmp_path):
    with pytest.raises(ImageLoadError, match="missing.jpg: no such image file"):
        caption_from_exif(tmp_path / "missing.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageLoadError, match="notes.jpg: cannot read it as an image"):
        caption_from_exif(text)


# ---------------------------------------------------------------- cleaning rules
@pytest.mark.parametrize(("key", "value", "expected"), [
    ("FocalLength", IFDRational(2625, 1000), "2.6 mm"),
    ("FocalLength", 50, "50.0 mm"),
    ("FocalLength", IFDRational(0, 1), "Unknown"),
    ("FocalLength", IFDRational(5, 0), "Unknown"),  # a 0 denominator is NaN
    ("FocalLengthIn35mmFilm", 26, "26"),
    ("FNumber", IFDRational(28, 10), "f/2.8"),
    ("ISOSpeedRatings", 100, "100"),
    ("ISOSpeedRatings", (200,), "200"),
    ("ISOSpeedRatings", "ISO 3200", "3200"),
    ("ISOSpeedRatings", "auto", "Unknown"),
    ("ExposureTime", IFDRational(1, 125), "1/125"),
    ("ExposureTime", 0.008, "1/125"),
    ("ExposureTime", IFDRational(10, 40), "1/4"),
    ("ExposureTime", IFDRational(2, 5), "0.4"),
    ("ExposureTime", 30, "30"),
    ("Make", "  Apple\x00\x00", "Apple"),
    ("Make", b"Canon", "Canon"),
    ("Make", "SAMSUNG TECHWIN CO., LTD.", "SAMSUNG TECHWIN CO. LTD."),
    ("Model", "Canon EOS 5D Mark III", "Canon EOS 5D Mark III"),
    ("Model", "x" * 33, "Unknown"),
    ("Model", "Caméra", "Unknown"),
    ("LensModel", "", ""),
])
def test_clean_value(key, value, expected):
    assert clean_value(key, value) == expected


def test_exposure_fractions_are_recognised_within_two_percent():
    assert format_exposure(1 / 60) == "1/60"
    assert format_exposure(1 / 3.0) == "1/3"
    assert format_exposure(0.3) == "0.3"
    assert format_exposure(float("nan")) == "Unknown"


def test_format_caption_orders_keys_and_refuses_unknown_ones():
    caption = format_caption({"ISOSpeedRatings": 100, "Make": "Sony", "ImageWidth": 10, "LensModel": None})
    assert caption == "Make: Sony, ISOSpeedRatings: 100, ImageWidth: 10"
    assert format_caption({"ImageWidth": 10, "ImageHeight": 5}) is None
    with pytest.raises(ConfigError, match="'Flash'"):
        format_caption({"Flash": 1})
    assert list(CAPTION_KEYS[:2]) == ["Make", "Model"]


# ---------------------------------------------------------------- intrinsics
def test_focal_conversions_follow_the_pinhole_model():
    # A 36 mm-wide sensor imaged on 512 px: 1 px = 36/512 mm.
    assert focal_px_to_mm(512.0, 512, 36.0) == pytest.approx(36.0)
    assert focal_px_to_mm(500.0, 512, 36.0) == pytest.approx(35.15625)
    assert focal_mm_to_px(focal_px_to_mm(731.0, 4032, 5.6), 4032, 5.6) == pytest.approx(731.0)
    # The 35 mm equivalent does not depend on the sensor: the field of view is the same.
    assert focal_35mm_equivalent(500.0, 512) == pytest.approx(500 * 36 / 512)
    diagonal_fov = 2 * math.atan(math.hypot(512, 384) / 2 / 500.0)
    full_frame_fov = 2 * math.atan(math.hypot(36, 24) / 2 / focal_35mm_equivalent(500.0, 512, 384))
    assert diagonal_fov == pytest.approx(full_frame_fov)


def test_caption_from_intrinsics_writes_focal_mm_and_35mm_equivalent():
    caption = caption_from_intrinsics(500.0, 512, image_height_px=384, make="Recon3r", model="Procedural")
    assert caption == (
        "Make: Recon3r, Model: Procedural, FocalLength: 35.2 mm, FocalLengthIn35mmFilm: 34, "
        "ImageWidth: 512, ImageHeight: 384"
    )
    phone = parse_caption(caption_from_intrinsics(3000.0, 4032, 5.6, image_height_px=3024))
    assert phone["FocalLength"] == "4.2 mm"  # 3000 px * 5.6 mm / 4032 px = 4.17 mm
    assert phone["FocalLengthIn35mmFilm"] == "26"  # 3000 * 43.27 / 5040 = 25.8


@pytest.mark.parametrize("sensor_width_mm", [36.0, 23.5, 6.17])
@pytest.mark.parametrize("focal_px", [150.0, 512.0, 1843.7])
def test_caption_from_intrinsics_round_trips_within_rounding(focal_px, sensor_width_mm):
    width = 640
    fields = parse_caption(caption_from_intrinsics(focal_px, width, sensor_width_mm))
    focal_mm = float(fields["FocalLength"].removesuffix(" mm"))
    # FocalLength keeps one decimal: the error is at most 0.05 mm
    assert abs(focal_mm_to_px(focal_mm, width, sensor_width_mm) - focal_px) <= focal_mm_to_px(0.05, width, sensor_width_mm) + 1e-9
    assert abs(int(fields["FocalLengthIn35mmFilm"]) - focal_px * 36 / width) <= 0.5
    assert "ImageHeight" not in fields


def test_caption_from_intrinsics_can_leave_out_either_focal():
    only_35 = parse_caption(caption_from_intrinsics(500.0, 512, include_focal_mm=False))
    assert "FocalLength" not in only_35 and only_35["FocalLengthIn35mmFilm"] == "35"
    only_mm = parse_caption(caption_from_intrinsics(500.0, 512, include_35mm=False))
    assert "FocalLengthIn35mmFilm" not in only_mm and only_mm["FocalLength"] == "35.2 mm"
    with pytest.raises(ConfigError, match="nothing to write"):
        caption_from_intrinsics(500.0, 512, include_focal_mm=False, include_35mm=False)


@pytest.mark.parametrize(("args", "kwargs", "name"), [
    ((0.0, 512), {}, "focal_px"),
    ((float("nan"), 512), {}, "focal_px"),
    ((500.0, -1), {}, "image_width_px"),
    ((500.0, 512, 0.0), {}, "sensor_width_mm"),
    ((500.0, 512), {"image_height_px": 0}, "image_height_px"),
])
def test_caption_from_intrinsics_rejects_non_positive_values(args, kwargs, name):
    with pytest.raises(ConfigError, match=name):
        caption_from_intrinsics(*args, **kwargs)


# ---------------------------------------------------------------- free text, missing captions
def test_normalize_caption_passes_free_text_and_maps_blank_to_none():
    text = "  a photo of a church, taken at noon  "
    assert normalize_caption(text) is text
    assert normalize_caption(None) is None
    assert normalize_caption("") is None
    assert normalize_caption(" \n\t") is None
    with pytest.raises(ConfigError, match="got int 3"):
        normalize_caption(3)


def test_parse_caption_ignores_free_text():
    assert parse_caption("a photo of a church, taken at noon") == {}
    assert parse_caption(None) == {}
    assert parse_caption("Make: Apple, Model: iPhone 13") == {"Make": "Apple", "Model": "iPhone 13"}


# ---------------------------------------------------------------- captions files
def test_load_captions_file_reads_strings_and_nulls(tmp_path):
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"a.jpg": "FocalLength: 24.0 mm", "b.jpg": None, "c.jpg": "  "}))
    assert load_captions_file(path) == {"a.jpg": "FocalLength: 24.0 mm", "b.jpg": None, "c.jpg": None}


def test_load_captions_file_errors_name_the_file_and_key(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.json does not exist"):
        load_captions_file(tmp_path / "nowhere.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"a.jpg": "x",\n "b.jpg": }')
    with pytest.raises(ConfigError, match=r"bad.json is not valid JSON: .* line 2, column"):
        load_captions_file(bad)
    listing = tmp_path / "list.json"
    listing.write_text('["a caption"]')
    with pytest.raises(ConfigError, match="list.json must hold a JSON object.*not a list"):
        load_captions_file(listing)
    number = tmp_path / "number.json"
    number.write_text('{"a.jpg": 35}')
    with pytest.raises(ConfigError, match="number.json: the caption of 'a.jpg' must be a string or null, got int 35"):
        load_captions_file(number)


def test_captions_for_images_matches_by_path_then_file_name(tmp_path):
    paths = [tmp_path / "x" / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"]
    captions = {str(paths[0]): "full path", "b.jpg": "by name", "unrelated.jpg": "ignored"}
    assert captions_for_images(captions, paths) == ["full path", "by name", None]
    assert captions_for_images(None, paths) == [None, None, None]


def test_captions_for_images_falls_back_to_exif(tmp_path):
    canon = write_jpeg(tmp_path / "canon.jpg", (64, 48), CANON_IFD0, CANON_EXIF)
    plain = write_jpeg(tmp_path / "plain.jpg")
    given = write_jpeg(tmp_path / "given.jpg", (64, 48), CANON_IFD0, CANON_EXIF)
    result = captions_for_images({"given.jpg": "free text wins"}, [canon, plain, given], exif_fallback=True)
    assert result == [caption_from_exif(canon), None, "free text wins"]


def test_captions_for_images_rejects_a_mapping_that_matches_nothing_or_is_ambiguous(tmp_path):
    paths = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    with pytest.raises(ConfigError, match=r"captions.json: none of its keys \['A.JPG'\] names one of the images"):
        captions_for_images({"A.JPG": "x"}, paths, source="captions.json")
    twins = [tmp_path / "one" / "a.jpg", tmp_path / "two" / "a.jpg"]
    with pytest.raises(ConfigError, match="'a.jpg' is ambiguous"):
        captions_for_images({"a.jpg": "x"}, twins)


def test_scale_caption_focal_rewrites_both_focal_fields_and_keeps_the_rest():
    caption = ("Make: Procedural, Model: PX-APSC, FocalLength: 18.3 mm, FocalLengthIn35mmFilm: 27, "
               "ImageWidth: 64, ImageHeight: 48")
    doubled = scale_caption_focal(caption, 2.0)
    assert doubled == ("Make: Procedural, Model: PX-APSC, FocalLength: 36.6 mm, FocalLengthIn35mmFilm: 54, "
                       "ImageWidth: 64, ImageHeight: 48")
    assert parse_caption(scale_caption_focal(caption, 0.5))["FocalLengthIn35mmFilm"] == "14"  # 13.5 rounds to even
    assert scale_caption_focal("FocalLength: 50.0 mm", 1.5) == "FocalLength: 75.0 mm"
    for unchanged in ("a red chair, seen from the left", "FocalLength: Unknown, Make: X", "", None):
        assert scale_caption_focal(unchanged, 2.0) == unchanged
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ConfigError, match="factor must be a finite positive number"):
            scale_caption_focal(caption, bad)
