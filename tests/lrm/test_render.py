"""Volume rendering against closed forms: constant-density box, empty field, opaque slab depth; rays."""

import math

import pytest
import torch

from recon3r.lrm.render import (
    camera_rays,
    composite,
    intersect_box,
    pixel_grid,
    render_rays,
    stratified_samples,
)

F64 = torch.float64


def _constant(sigma, color=(0.2, 0.5, 0.9)):
    def field(points):
        B, M, _ = points.shape
        return (torch.full((B, M), sigma, dtype=points.dtype),
                torch.tensor(color, dtype=points.dtype).expand(B, M, 3))
    return field


def test_camera_rays_follow_opencv_axes_and_unit_z():
    K = torch.tensor([[[10.0, 0, 2.0], [0, 20.0, 1.0], [0, 0, 1]]], dtype=F64)
    pose = torch.eye(4, dtype=F64)[None].clone()
    pose[0, :3, 3] = torch.tensor([1.0, 2.0, 3.0])
    origins, dirs = camera_rays(K, pose, torch.tensor([[12.0, 1.0], [2.0, 21.0]], dtype=F64))
    torch.testing.assert_close(dirs[0], torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=F64))
    torch.testing.assert_close(origins[0], torch.tensor([[1.0, 2.0, 3.0]] * 2, dtype=F64))
    assert pixel_grid(2, 3).tolist() == [[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]]


def test_box_intersection_closed_form_and_misses():
    origins = torch.tensor([[0.0, 0.0, -3.0], [0.0, 0.0, -3.0], [0.0, 0.0, 0.0], [0.0, 5.0, -3.0]], dtype=F64)
    dirs = torch.tensor([[0.0, 0.0, 1.0], [0.2, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 1.0]], dtype=F64)
    near, far, hit = intersect_box(origins, dirs)
    torch.testing.assert_close(near, torch.tensor([2.0, 2.0, 0.0, 0.0], dtype=F64))
    torch.testing.assert_close(far, torch.tensor([4.0, 4.0, 0.5, 0.0], dtype=F64))
    assert hit.tolist() == [True, True, True, False]


@pytest.mark.parametrize("sigma", [0.1, 0.7, 3.0])
def test_constant_density_box_gives_one_minus_exp_sigma_length(sigma):
    origins = torch.tensor([[[0.0, 0.0, -3.0], [0.3, -0.2, -3.0], [-4.0, 0.1, 0.2]]], dtype=F64)
    dirs = torch.tensor([[[0.0, 0.0, 1.0], [0.1, 0.2, 1.0], [1.0, 0.0, 0.05]]], dtype=F64)
    near, far, _ = intersect_box(origins, dirs)
    length = (far - near) * dirs.norm(dim=-1)
    out = render_rays(_constant(sigma), origins, dirs, samples=17, background=0.0)
    torch.testing.assert_close(out.opacity, 1 - torch.exp(-sigma * length), atol=1e-8, rtol=0)  # 1e-10 guard per sample
    torch.testing.assert_close(out.rgb, out.opacity[..., None] * torch.tensor([0.2, 0.5, 0.9], dtype=F64))


def test_empty_field_is_transparent_and_shows_the_background():
    origins = torch.tensor([[[0.0, 0.0, -3.0], [0.0, 9.0, -3.0]]], dtype=F64)
    dirs = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]], dtype=F64)
    out = render_rays(_constant(0.0), origins, dirs, samples=8, background=1.0)
    assert out.opacity.abs().max() == 0
    torch.testing.assert_close(out.rgb, torch.ones(1, 2, 3, dtype=F64))
    assert out.depth.abs().max() == 0


def test_opaque_slab_depth_is_its_front_face_within_one_sample():
    def slab(points):  # opaque for z in [0.2, 0.6], empty elsewhere
        z = points[..., 2]
        sigma = torch.where((z >= 0.2) & (z <= 0.6), 1e4, 0.0)
        return sigma, torch.ones(*points.shape[:-1], 3, dtype=points.dtype)

    origins = torch.tensor([[[0.0, 0.0, -3.0], [0.5, 0.5, -2.0]]], dtype=F64)
    dirs = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]], dtype=F64)
    samples = 200
    out = render_rays(slab, origins, dirs, samples)
    bin_width = 2.0 / samples
    expected = torch.tensor([[3.2, 2.2]], dtype=F64)  # z-depth from the cameras to z = 0.2
    assert (out.depth - expected).abs().max() <= bin_width
    torch.testing.assert_close(out.opacity, torch.ones(1, 2, dtype=F64))


def test_composite_weights_match_the_two_sample_closed_form():
    sigma = torch.tensor([1.0, 2.0], dtype=F64)
    rgb = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=F64)
    t = torch.tensor([1.0, 2.0], dtype=F64)
    out = composite(sigma, rgb, t, torch.tensor(0.5, dtype=F64))
    a0, a1 = 1 - math.exp(-0.5), 1 - math.exp(-1.0)
    w0, w1 = a0, (1 - a0) * a1
    torch.testing.assert_close(out.rgb, torch.tensor([w0, w1, 0.0], dtype=F64), atol=1e-9, rtol=0)
    assert out.opacity.item() == pytest.approx(w0 + w1)
    assert out.depth.item() == pytest.approx((w0 * 1 + w1 * 2) / (w0 + w1))


def test_stratified_samples_stay_in_their_bins():
    near, far = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.5])
    t, dt = stratified_samples(near, far, 4, perturb=True, generator=torch.Generator().manual_seed(0))
    bins = ((t - near[:, None]) / dt).floor()
    assert bins.tolist() == [[0, 1, 2, 3]] * 2
    mid, _ = stratified_samples(near, far, 4)
    torch.testing.assert_close(mid[0], torch.tensor([1.25, 1.75, 2.25, 2.75]))
