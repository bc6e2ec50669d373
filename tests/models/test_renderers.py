"""The importance renderer's pieces against closed forms: limits, marching, inverse-CDF sampling."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from recon3r.models.renderers import march, ray_limits, render_rays, sample_pdf, stratified_depths


def test_missing_rays_get_the_global_extremes_of_the_valid_starts():
    origins = torch.tensor([[[0.0, 0.0, -3.0], [0.0, 0.0, -2.0], [5.0, 5.0, -3.0]]])
    directions = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    start, end = ray_limits(origins, directions)
    torch.testing.assert_close(start[0, :, 0], torch.tensor([2.0, 1.0, 1.0]))  # miss: min valid start
    torch.testing.assert_close(end[0, :, 0], torch.tensor([4.0, 3.0, 2.0]))  # miss: max valid *start*


def test_stratified_depths_span_the_limits_with_the_last_sample_past_the_exit():
    start, end = torch.tensor([[[1.0]]]), torch.tensor([[[4.0]]])
    zero = stratified_depths(start, end, 4, torch.zeros(1, 1, 4, 1))
    torch.testing.assert_close(zero[0, 0, :, 0], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    half = stratified_depths(start, end, 4, torch.full((1, 1, 4, 1), 0.5))
    torch.testing.assert_close(half[0, 0, :, 0], torch.tensor([1.5, 2.5, 3.5, 4.5]))


def test_march_of_a_constant_medium_matches_beer_lambert():
    depths = torch.linspace(1.0, 3.0, 65).reshape(1, 1, 65, 1)
    raw = 1.7
    sigma = F.softplus(torch.tensor(raw - 1.0)).item()
    colors = torch.tensor([0.2, 0.4, 0.6]).expand(1, 1, 65, 3)
    rgb, depth, weights = march(colors, torch.full((1, 1, 65, 1), raw), depths, torch.full((1, 1), 0.9))
    opacity = 1 - math.exp(-sigma * 2.0)
    assert abs(weights.sum().item() - opacity) < 1e-5
    torch.testing.assert_close(rgb[0, 0], torch.tensor([0.2, 0.4, 0.6]) * opacity + 0.9 * (1 - opacity), atol=1e-5, rtol=0)
    expected_depth = 1 + (1 / sigma - 2 * math.exp(-2 * sigma) / (1 - math.exp(-2 * sigma)))  # E[t | absorbed]
    assert abs(depth.item() - expected_depth) < 1e-3


def test_empty_rays_get_the_largest_depth_of_the_call():
    depths = torch.stack((torch.linspace(1.0, 2.0, 8), torch.linspace(0.5, 3.0, 8))).reshape(2, 1, 8, 1)
    densities = torch.full((2, 1, 8, 1), torch.finfo(torch.float32).min / 8)
    rgb, depth, weights = march(torch.zeros(2, 1, 8, 3), densities, depths, torch.tensor([[0.25], [1.0]]))
    assert weights.abs().max() == 0
    torch.testing.assert_close(depth.flatten(), torch.tensor([3.0, 3.0]))
    torch.testing.assert_close(rgb[:, 0], torch.tensor([[0.25] * 3, [1.0] * 3]))


def test_sample_pdf_of_uniform_weights_is_linear_in_u():
    bins = torch.linspace(0.0, 6.0, 7).expand(3, 7)
    u = torch.tensor([[0.0, 0.25, 0.5], [0.1, 0.6, 0.9], [0.33, 0.66, 0.999]])
    samples = sample_pdf(bins, torch.ones(3, 5), u)  # 5 weights: only bins[:, :6] are used
    torch.testing.assert_close(samples, 5.0 * u, atol=1e-5, rtol=0)


def test_render_rays_refuses_noise_of_the_wrong_size():
    origins = torch.tensor([[[0.0, 0.0, -3.0]]])
    directions = torch.tensor([[[0.0, 0.0, 1.0]]])
    field = lambda p: (torch.zeros(*p.shape[:-1], 3), torch.zeros(*p.shape[:-1], 1))
    with pytest.raises(ValueError, match="importance_noise"):
        render_rays(field, origins, directions, torch.ones(1, 1), coarse_samples=4, fine_samples=4,
                    importance_noise=torch.rand(2, 4))
