"""Image loading: reference resize/crop conventions, exact bookkeeping, and awkward files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recon3r.errors import ConfigError, ImageLoadError
from recon3r.io import View, list_images, load_images, load_view, plan_resize
from recon3r.io.images import resize_and_crop
from recon3r.scene import ImageTransform


def _save(path: Path, arr: np.ndarray, **kwargs) -> Path:
    Image.fromarray(arr).save(path, **kwargs)
    return path


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


# --- resize/crop plan -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("size", "original", "network"),
    [
        (512, (640, 480), (512, 384)),
        (512, (4032, 3024), (512, 384)),
        (512, (480, 640), (384, 512)),  # portrait stays portrait
        (512, (1920, 1080), (512, 288)),
        (512, (1000, 667), (512, 336)),  # 341.5 rounds to 342, cropped to a multiple of 16
        (512, (300, 300), (512, 384)),  # square: cropped to 4:3
        (512, (100, 50), (512, 256)),  # upscaled
        (224, (640, 480), (224, 224)),
        (224, (480, 640), (224, 224)),
        (224, (1000, 667), (224, 224)),
    ],
)
def test_plan_resize_follows_reference_sizes(size, original, network):
    t = plan_resize(original, size=size)
    assert t.network_size == network
    assert t.original_size == original
    w, h = network
    assert w % 16 == 0 and h % 16 == 0


def test_plan_resize_long_side_512_and_short_side_224():
    t512 = plan_resize((1000, 667), 512)
    assert t512.scale == pytest.approx(512 / 1000)
    assert t512.crop_offset == (0.0, 3.0)  # resized 512x342, centre crop of 336 rows: 171 - 168
    t224 = plan_resize((1000, 667), 224)
    assert t224.scale == pytest.approx(336 / 1000)  # long side round(224 * 1000/667) = 336
    assert t224.crop_offset == (56.0, 0.0)


def test_square_image_kept_square_when_allowed():
    assert plan_resize((300, 300), 512, square_ok=True).network_size == (512, 512)
    t = plan_resize((300, 300), 512)
    assert t.crop_offset == (0.0, 64.0)


def test_bad_size_and_elongated_image_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="size"):
        plan_resize((100, 100), size=8)
    with pytest.raises(ConfigError, match="size"):
        load_images(tmp_path, size="512")  # type: ignore[arg-type]
    path = _save(tmp_path / "strip.png", _noise(2, 600))
    with pytest.raises(ImageLoadError, match="strip.png.*elongated"):
        load_view(path)


# --- pixels and bookkeeping --------------------------------------------------------------------

def test_pixels_equal_reference_resize_then_crop_when_sizes_are_exact(tmp_path):
    arr = _noise(480, 640, seed=1)
    view = load_view(_save(tmp_path / "a.png", arr), size=512)
    image = Image.fromarray(arr)
    reference = image.resize((512, 384), Image.Resampling.LANCZOS).crop((0, 0, 512, 384))
    got = np.rint((view.img[0].permute(1, 2, 0).numpy() * 0.5 + 0.5) * 255).astype(np.int16)
    assert np.abs(got - np.asarray(reference, dtype=np.int16)).max() <= 1

    # 224: short side to 224, centre crop (3:2 so that the reference's rounded size is exact).
    arr = _noise(400, 600, seed=2)
    view224 = load_view(_save(tmp_path / "b.png", arr), size=224)
    ref224 = Image.fromarray(arr).resize((336, 224), Image.Resampling.LANCZOS).crop((56, 0, 280, 224))
    got224 = np.rint(view224.rgb() * 255).astype(np.int16)
    assert np.abs(got224 - np.asarray(ref224, dtype=np.int16)).max() <= 1


def test_view_holds_reference_fields(tmp_path):
    view = load_view(_save(tmp_path / "p.png", _noise(64, 48)), idx=5, size=224)
    assert isinstance(view, View)
    assert view.img.shape == (1, 3, 224, 224) and view.img.dtype == torch.float32
    assert view.img.min() >= -1 and view.img.max() <= 1
    assert view.true_shape.tolist() == [[224, 224]]
    assert (view.idx, view.instance, view.name) == (5, "5", "p.png")
    assert view.path == tmp_path / "p.png"
    model_input = view.as_model_input()
    assert set(model_input) == {"img", "true_shape", "idx", "instance", "caption"}
    assert model_input["caption"] == ""  # no caption: the multimodal model uses its learned null embedding
    assert view.rgb().shape == (224, 224, 3)


def _blob(h: int, w: int, x: float, y: float, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))


def _centroid(weights: np.ndarray) -> tuple[float, float]:
    weights = np.clip(weights - 0.05, 0, None)
    ys, xs = np.mgrid[0 : weights.shape[0], 0 : weights.shape[1]]
    return float((xs * weights).sum() / weights.sum()), float((ys * weights).sum() / weights.sum())


@pytest.mark.parametrize(("size", "original"), [(512, (1000, 667)), (224, (1000, 667)), (512, (333, 250)), (512, (1000, 687))])
def test_original_pixel_maps_to_the_predicted_network_pixel(tmp_path, size, original):
    w1, h1 = original
    # A smooth blob near the bottom-right, where an anisotropic rounding error would be largest.
    x, y = 0.7 * w1 + 0.3, 0.85 * h1 + 0.7
    sigma = 6.0 / (size / max(w1, h1))
    blob = _blob(h1, w1, x, y, sigma)
    arr = np.repeat((blob * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    view = load_view(_save(tmp_path / "blob.png", arr), size=size)
    t = view.transform
    expected = ((x + 0.5) * t.scale - 0.5 - t.crop_offset[0], (y + 0.5) * t.scale - 0.5 - t.crop_offset[1])
    got = _centroid(view.rgb()[..., 0])
    assert got == pytest.approx(expected, abs=0.05)


def test_intrinsics_round_trip_between_original_and_network_is_exact():
    rng = np.random.default_rng(0)
    for original, size in [((1000, 667), 512), ((4032, 3024), 512), ((480, 640), 224), ((300, 300), 512)]:
        t = plan_resize(original, size)
        k = np.array([[rng.uniform(300, 900), 0, rng.uniform(100, 500)],
                      [0, rng.uniform(300, 900), rng.uniform(100, 400)], [0, 0, 1]])
        k_net = t.intrinsics_to_network(k)
        np.testing.assert_allclose(t.intrinsics_to_original(k_net), k, rtol=0, atol=1e-10)
        # Projecting with the network intrinsics equals projecting at the original and mapping the pixel.
        point = np.array([0.3, -0.2, 2.0])
        px_orig = (k @ point)[:2] / point[2]
        px_net = (k_net @ point)[:2] / point[2]
        mapped = (px_orig + 0.5) * t.scale - 0.5 - np.array(t.crop_offset)
        np.testing.assert_allclose(px_net, mapped, atol=1e-10)


def test_resize_and_crop_rejects_mismatched_transform():
    t = ImageTransform(original_size=(10, 10), scale=1.0, crop_offset=(0, 0), network_size=(8, 8))
    with pytest.raises(ValueError, match="does not match"):
        resize_and_crop(Image.new("RGB", (12, 10)), t)


def test_real_photo_at_native_size_is_unchanged(shared_path):
    folder = shared_path("data", "middlebury_dino_sparse_ring", "images")
    paths = sorted(folder.glob("*.png"))[:2]
    views = load_images(paths, size=512)
    for view, path in zip(views, paths):
        assert view.transform.scale == 1.0 and view.transform.crop_offset == (0.0, 0.0)
        expected = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        np.testing.assert_allclose(view.rgb(), expected, atol=1e-5)


# --- file formats -------------------------------------------------------------------------------

def test_exif_rotated_jpeg_loads_in_display_orientation(tmp_path):
    # Stored landscape 64x48: left half red, right half blue. Orientation 6 = rotate 90° clockwise to
    # display, so the displayed image is portrait with red on top and blue at the bottom.
    arr = np.zeros((48, 64, 3), np.uint8)
    arr[:, :32] = (255, 0, 0)
    arr[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, exif=exif.tobytes(), quality=95)

    view = load_view(path, size=512)
    assert view.transform.original_size == (48, 64)
    assert (view.height, view.width) == (512, 384)
    assert view.true_shape.tolist() == [[512, 384]]
    rgb = view.rgb()
    np.testing.assert_allclose(rgb[100:150, 100:300].mean(axis=(0, 1)), (1, 0, 0), atol=0.05)
    np.testing.assert_allclose(rgb[380:430, 100:300].mean(axis=(0, 1)), (0, 0, 1), atol=0.05)


def test_rgba_is_composited_on_white_or_alpha_dropped(tmp_path):
    arr = np.zeros((48, 64, 4), np.uint8)
    arr[..., :3] = (10, 200, 30)
    arr[:, 32:, 3] = 255  # right half opaque, left half fully transparent
    path = _save(tmp_path / "rgba.png", arr)
    rgb = load_view(path, size=64, square_ok=True).rgb()
    np.testing.assert_allclose(rgb[:, :24].reshape(-1, 3).mean(0), (1, 1, 1), atol=1e-5)
    np.testing.assert_allclose(rgb[:, 40:].reshape(-1, 3).mean(0), np.array([10, 200, 30]) / 255, atol=1e-5)
    dropped = load_view(path, size=64, alpha_background=None).rgb()
    np.testing.assert_allclose(dropped[:, :24].reshape(-1, 3).mean(0), np.array([10, 200, 30]) / 255, atol=1e-5)


def test_grayscale_and_palette_images_become_rgb(tmp_path):
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    rgb = load_view(_save(tmp_path / "gray.png", gray), size=64).rgb()
    assert rgb.shape == (48, 64, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])
    np.testing.assert_allclose(rgb[..., 0], gray / 255, atol=1e-5)

    palette = Image.new("P", (64, 48))
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pixels = np.zeros((48, 64), np.uint8)
    pixels[24:] = 1
    palette.frombytes(pixels.tobytes())
    palette.save(tmp_path / "palette.png")
    rgb = load_view(tmp_path / "palette.png", size=64).rgb()
    np.testing.assert_allclose(rgb[:24].reshape(-1, 3).mean(0), (1, 0, 0), atol=1e-5)
    np.testing.assert_allclose(rgb[24:].reshape(-1, 3).mean(0), (0, 1, 0), atol=1e-5)


def test_16bit_png_is_scaled_to_the_8bit_range(tmp_path):
    values = np.zeros((48, 64), np.uint16)
    values[:, 16:32] = 32896  # 128 * 257
    values[:, 32:] = 65535
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    rgb = load_view(tmp_path / "deep.png", size=64).rgb()
    np.testing.assert_allclose(rgb[:, :16], 0, atol=1e-5)
    np.testing.assert_allclose(rgb[:, 18:30], 128 / 255, atol=1e-5)
    np.testing.assert_allclose(rgb[:, 34:], 1, atol=1e-5)


# --- errors -------------------------------------------------------------------------------------

def test_corrupt_and_non_image_files_raise_naming_the_file(tmp_path):
    good = _save(tmp_path / "good.png", _noise(48, 64))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:200])  # truncated PNG
    with pytest.raises(ImageLoadError, match="corrupt.png"):
        load_images([good, corrupt])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageLoadError, match="notes.jpg"):
        load_images([good, text])
    readme = tmp_path / "readme.txt"
    readme.write_text("hello")
    with pytest.raises(ImageLoadError, match="readme.txt"):
        load_images([good, readme])


def test_folder_lists_sorted_images_only(tmp_path):
    for name in ("b.png", "a.jpg", "C.PNG"):
        _save(tmp_path / name, _noise(48, 64))
    (tmp_path / "notes.txt").write_text("skip me")
    (tmp_path / ".hidden.png").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["C.PNG", "a.jpg", "b.png"]
    views = load_images(str(tmp_path), size=224)
    assert [(v.name, v.idx, v.instance) for v in views] == [("C.PNG", 0, "0"), ("a.jpg", 1, "1"), ("b.png", 2, "2")]


def test_empty_folder_missing_path_and_single_image_errors(tmp_path):
    with pytest.raises(ImageLoadError, match="no images found"):
        load_images(tmp_path)
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_images([tmp_path / "missing.png", tmp_path / "other.png"])
    _save(tmp_path / "only.png", _noise(48, 64))
    with pytest.raises(ImageLoadError, match="2 or more images, got 1.*only.png"):
        load_images(tmp_path)
    assert len(load_images(tmp_path, min_images=1)) == 1
