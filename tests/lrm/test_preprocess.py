"""Single-image preprocessing: background estimate, recentring with OpenLRM's framing, the model input."""

import numpy as np
import pytest
import torch

from recon3r.errors import ImageLoadError
from recon3r.lrm.preprocess import estimate_foreground, load_image, model_input, prepare_object, recenter

pytest.importorskip("scipy", reason="the background estimate needs scipy (the `lrm` extra)")


def _photo(seed=0):
    """A noisy light-grey backdrop with a red ring whose hole shows the backdrop colour, plus a speck."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(200, 4, (90, 120, 3)), 0, 255).astype(np.uint8)
    rows, cols = np.mgrid[:90, :120]
    radius = np.hypot(rows - 50, cols - 70)
    ring = (radius < 25) & (radius > 8)
    image[ring] = (180, 40, 30)
    image[5, 5] = (0, 0, 0)  # a one-pixel speck on the border region
    return image, radius < 25


def test_background_estimate_keeps_the_object_and_its_enclosed_hole():
    image, truth = _photo()
    mask = estimate_foreground(image)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.97
    assert not mask[5, 5]


def test_recenter_fills_eighty_percent_of_the_square_and_centres_the_object():
    rgba = np.zeros((100, 200, 4), np.uint8)
    rgba[10:30, 20:120] = (255, 0, 0, 255)  # a 20 × 100 bar, off-centre
    out = recenter(rgba, 50, border_ratio=0.2)
    ys, xs = np.nonzero(out[..., 3] > 0)
    assert xs.max() - xs.min() + 1 == 40  # the longer side spans 80% of 50
    assert abs((xs.min() + xs.max() + 1) / 2 - 25) <= 0.5 and abs((ys.min() + ys.max() + 1) / 2 - 25) <= 1


def test_prepare_object_uses_alpha_when_the_image_has_it():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[5:15, 5:15] = (0, 255, 0, 255)
    out = prepare_object(rgba, size=32)
    assert out.shape == (32, 32, 4) and out[16, 16, 1] == 255 and out[0, 0, 3] == 0
    photo, _ = _photo()
    assert prepare_object(photo, size=64)[32, 32, 3] == 255  # no alpha: the estimate cuts out the ring


def test_model_input_composites_on_white_and_resizes():
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :15, 3] = 255
    tensor = model_input(rgba, 14)
    assert tensor.shape == (1, 3, 14, 14) and tensor.dtype == torch.float32
    torch.testing.assert_close(tensor[0, :, 7, 0], torch.tensor([1.0, 0.0, 0.0]))  # opaque red
    torch.testing.assert_close(tensor[0, :, 7, -1], torch.ones(3))  # transparent → white


def test_unreadable_and_empty_images_raise_clear_errors(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    with pytest.raises(ImageLoadError, match="broken.png"):
        load_image(bad)
    with pytest.raises(ImageLoadError, match="empty"):
        recenter(np.zeros((8, 8, 4), np.uint8), 16)
