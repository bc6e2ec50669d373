"""Novel-view metrics against closed forms: PSNR, SSIM, mask IoU, Chamfer distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recon3r.eval.metrics import chamfer_distance, mask_iou, novel_view_metrics, psnr, ssim


def test_psnr_of_a_uniform_error_is_its_closed_form():
    gt = np.random.default_rng(0).uniform(0.2, 0.8, (8, 9, 3))
    assert psnr(gt + 0.1, gt) == pytest.approx(10 * math.log10(1 / 0.01), abs=1e-9)
    assert psnr(gt, gt) == math.inf
    assert psnr(2 * (gt + 0.1), 2 * gt, max_value=2.0) == pytest.approx(20.0, abs=1e-9)


@pytest.mark.parametrize(("a", "b"), [(0.2, 0.7), (0.5, 0.5), (0.0, 1.0)])
def test_ssim_of_constant_images_is_the_luminance_term(a, b):
    # Constant images: no variance, so SSIM = (2ab + C1) / (a² + b² + C1) with C1 = 0.01².
    c1 = 0.01**2
    value = ssim(np.full((16, 20, 3), a), np.full((16, 20, 3), b))
    assert value == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-12)


def test_ssim_is_one_for_identical_images_and_matches_a_direct_window_computation():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, (13, 15, 1)), rng.uniform(0, 1, (13, 15, 1))
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    # 11×11 window on a 13×15 image: 3×5 valid positions; recompute each by hand in float64.
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for i in range(3):
        for j in range(5):
            px, py = x[i:i + 11, j:j + 11, 0], y[i:i + 11, j:j + 11, 0]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy, cov = (w * px * px).sum() - mx**2, (w * py * py).sum() - my**2, (w * px * py).sum() - mx * my
            values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    assert ssim(x, y) == pytest.approx(np.mean(values), abs=1e-12)
    assert ssim(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(np.mean(values), abs=1e-12)


def test_image_metrics_refuse_images_of_different_shapes():
    with pytest.raises(ValueError, match="one shape"):
        ssim(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="one shape"):
        mask_iou(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


def test_mask_iou_counts_intersection_over_union():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True  # 8 pixels
    b[1:3] = True  # 8 pixels, 4 shared
    assert mask_iou(a, b) == pytest.approx(4 / 12)
    assert mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    metrics = novel_view_metrics(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), a, b)
    assert metrics["mask_iou"] == pytest.approx(1 / 3) and metrics["psnr"] == math.inf
    assert math.isnan(novel_view_metrics(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))["mask_iou"])


def test_chamfer_distance_of_a_shifted_point_set():
    gt = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    shifted = gt + [0, 0, 0.1]
    assert chamfer_distance(shifted, gt) == pytest.approx({"acc": 0.1, "comp": 0.1, "chamfer": 0.1})
    extra = np.vstack([gt, [[0, 0, 2.0]]])  # one stray predicted point 2 from the GT: only accuracy suffers
    assert chamfer_distance(extra, gt) == pytest.approx({"acc": 0.5, "comp": 0.0, "chamfer": 0.25})
