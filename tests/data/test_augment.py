"""Crops and resizes keep intrinsics exact; photometric augmentation is seeded; resolution lists."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from recon3r.data.augment import (
    ColorJitter,
    ImgNorm,
    aspect_resolutions,
    crop_resize,
    mask_background,
    normalize_resolutions,
    to_tensor,
)


def _ramp(width: int, height: int, axis: int) -> Image.Image:
    """A float image whose value is the pixel's own x (axis 0) or y (axis 1) coordinate."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    values = xs if axis == 0 else ys
    return Image.frombytes("F", (width, height), np.ascontiguousarray(values).tobytes())


@pytest.mark.parametrize("resolution", [(64, 48), (48, 64), (40, 40), (150, 110)])
@pytest.mark.parametrize("principal_point", [(48.0, 35.0), (40.0, 30.0)])
@pytest.mark.parametrize("aug_crop", [0, 9])
def test_crop_resize_maps_pixels_exactly_as_the_new_intrinsics_say(resolution, principal_point, aug_crop):
    k = np.array([[80.0, 0.0, principal_point[0]], [0.0, 80.0, principal_point[1]], [0.0, 0.0, 1.0]])
    for axis in (0, 1):
        rng = np.random.default_rng(3)
        out, k2, _ = crop_resize(_ramp(97, 71, axis), k, resolution, rng=rng, aug_crop=aug_crop)
        assert out.size == resolution
        values = np.asarray(out, dtype=np.float64)
        # The same ray hits the source pixel u = (x' - cx') / fx' · fx + cx (and likewise for y).
        coords = np.arange(resolution[axis], dtype=np.float64)
        expected = (coords - k2[axis, 2]) / k2[axis, axis] * k[axis, axis] + k[axis, 2]
        got = values[resolution[1] // 2, 4:-4] if axis == 0 else values[4:-4, resolution[0] // 2]
        np.testing.assert_allclose(got, expected[4:-4], atol=0.05)


def test_depth_follows_the_image_by_nearest_source_pixel():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 5, size=(71, 97)).astype(np.float32)
    mask = rng.uniform(size=(71, 97)) > 0.5
    k = np.array([[80.0, 0.0, 48.0], [0.0, 80.0, 35.0], [0.0, 0.0, 1.0]])
    image = Image.fromarray(np.zeros((71, 97, 3), np.uint8))
    _, k2, (depth2, mask2) = crop_resize(image, k, (50, 38), depth, mask, rng=rng, aug_crop=7)
    ys, xs = np.meshgrid(np.arange(38.0), np.arange(50.0), indexing="ij")
    u = (xs - k2[0, 2]) / k2[0, 0] * k[0, 0] + k[0, 2]
    v = (ys - k2[1, 2]) / k2[1, 1] * k[1, 1] + k[1, 2]
    source = (np.round(v).astype(int), np.round(u).astype(int))
    assert (depth2 == depth[source]).mean() > 0.999
    assert (mask2 == mask[source]).mean() > 0.999


def test_aug_crop_zooms_randomly_but_reproducibly():
    k = np.array([[80.0, 0.0, 48.0], [0.0, 80.0, 35.0], [0.0, 0.0, 1.0]])
    image = Image.fromarray(np.zeros((71, 97, 3), np.uint8))
    focals = [crop_resize(image, k, (64, 48), rng=np.random.default_rng(s), aug_crop=16)[1][0, 0] for s in range(8)]
    again = [crop_resize(image, k, (64, 48), rng=np.random.default_rng(s), aug_crop=16)[1][0, 0] for s in range(8)]
    assert focals == again and len(set(focals)) > 1
    plain = crop_resize(image, k, (64, 48))[1]
    assert min(focals) >= plain[0, 0] - 1e-9


def test_principal_point_stays_centred_after_crop_resize():
    k = np.array([[80.0, 0.0, 48.0], [0.0, 80.0, 35.0], [0.0, 0.0, 1.0]])
    _, k2, _ = crop_resize(Image.fromarray(np.zeros((71, 97, 3), np.uint8)), k, (64, 48))
    np.testing.assert_allclose(k2[:2, 2], [31.5, 23.5], atol=0.5)


def test_color_jitter_is_reproducible_and_changes_colours():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, size=(16, 20, 3), dtype=np.uint8))
    jitter = ColorJitter(0.5, 0.5, 0.5, 0.1)
    a = np.asarray(jitter(image, np.random.default_rng(7)))
    b = np.asarray(jitter(image, np.random.default_rng(7)))
    c = np.asarray(jitter(image, np.random.default_rng(8)))
    assert np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(a, np.asarray(image))
    assert np.array_equal(np.asarray(ColorJitter(0, 0, 0, 0)(image, np.random.default_rng(1))), np.asarray(image))
    assert ImgNorm()(image, np.random.default_rng(1)) is image
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.7)


def test_to_tensor_normalises_to_minus_one_one():
    image = Image.fromarray(np.array([[[0, 255, 51]]], dtype=np.uint8))
    tensor = to_tensor(image)
    assert tuple(tensor.shape) == (3, 1, 1)
    np.testing.assert_allclose(tensor[:, 0, 0].numpy(), [-1.0, 1.0, -0.6], atol=1e-6)


def test_mask_background_invalidates_depth_outside_the_mask():
    depth = np.full((2, 2), 3.0, np.float32)
    out = mask_background(depth, np.array([[True, False], [False, True]]))
    np.testing.assert_array_equal(out, [[3.0, 0.0], [0.0, 3.0]])


def test_aspect_resolutions_match_the_dust3r_list():
    assert aspect_resolutions(512) == [(512, 384), (512, 336), (512, 288), (512, 256)]
    assert aspect_resolutions(224, [(4, 3)], portrait=True, square=True) == [(224, 224), (224, 160), (160, 224)]


def test_normalize_resolutions_accepts_the_reference_forms_and_rejects_others():
    assert normalize_resolutions(224) == [(224, 224)]
    assert normalize_resolutions((512, 384)) == [(512, 384)]
    assert normalize_resolutions([(512, 384), (288, 512)]) == [(512, 384), (288, 512)]
    for bad in ("224", (512.0, 384), [(512,)], []):
        with pytest.raises(ValueError, match="resolution"):
            normalize_resolutions(bad)
