"""Depth and confidence maps as colour images."""

import numpy as np
import pytest

from recon3r.demo.maps import MASKED_RGB, colorize, confidence_image, depth_image


def test_colorize_spans_the_ramp_and_greys_out_masked_and_nan_pixels():
    values = np.array([[0.0, 1.0, 2.0], [3.0, np.nan, 4.0]])
    mask = np.array([[True, True, True], [True, True, False]])
    rgb = colorize(values, mask, low=0.0, high=3.0)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[1, 1]) == MASKED_RGB and tuple(rgb[1, 2]) == MASKED_RGB
    # Ends of the ramp: dark purple at low, yellow at high; values beyond `high` saturate.
    assert rgb[0, 0, 2] > rgb[0, 0, 1] and rgb[1, 0, 0] > 200 and rgb[1, 0, 1] > 200
    np.testing.assert_array_equal(colorize(np.array([[3.0, 9.0]]), low=0.0, high=3.0)[0, 0],
                                  colorize(np.array([[3.0, 9.0]]), low=0.0, high=3.0)[0, 1])


def test_near_depth_is_brighter_and_confidence_brighter_when_higher():
    depth = np.array([[1.0, 5.0]] * 4)
    rgb = depth_image(depth).astype(int)
    assert rgb[0, 0].sum() > rgb[0, 1].sum()
    conf = confidence_image(np.array([[1.0, 20.0]]), high=20.0).astype(int)
    assert conf[0, 1].sum() > conf[0, 0].sum()


def test_colorize_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"expects an \(H, W\) map"):
        colorize(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="mask shape"):
        colorize(np.zeros((2, 2)), np.ones((3, 2), bool))
