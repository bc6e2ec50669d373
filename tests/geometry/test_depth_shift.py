"""Unprojection with one focal per image, pixel unprojection and the depth shift/focal distortion
(`recon3r.geometry.cameras`, `recon3r.geometry.depth_shift`) against closed forms, in float64, plus
batch / dtype / device / shape checks."""

from __future__ import annotations

import math

import pytest
import torch

from recon3r.geometry.cameras import depth_to_points as depth_to_points_k
from recon3r.geometry.cameras import intrinsics_from_focal, unproject_pixels
from recon3r.geometry.depth_shift import apply_correction, distort
from recon3r.geometry.focal import focal_from_fov

F64 = torch.float64


def depth_to_points(depth, focal, principal_point=None):
    """Unproject (B, H, W) depth with one focal per image through the shared K builder."""
    if depth.ndim != 3:
        raise ValueError(f"depth must be (B, H, W), got {tuple(depth.shape)}")
    k = intrinsics_from_focal(torch.as_tensor(focal, dtype=depth.dtype, device=depth.device), depth.shape[1],
                              depth.shape[2], principal_point, batch=depth.shape[0], dtype=depth.dtype,
                              device=depth.device)
    return depth_to_points_k(depth, k)


def pixels_to_points(pixels, depth, focal, principal_point):
    k = intrinsics_from_focal(torch.as_tensor(focal, dtype=depth.dtype), 1, 1, principal_point,
                              batch=depth.shape[0], dtype=depth.dtype)
    return unproject_pixels(pixels, depth, k)


def plane_depth(normal, offset: float, focal: float, height: int, width: int) -> torch.Tensor:
    """z-depth (H, W) of the plane n·X = offset seen by a pinhole camera centred on the pixel grid."""
    n = torch.tensor(normal, dtype=F64)
    xs = (torch.arange(width, dtype=F64) - (width - 1) / 2) / focal
    ys = (torch.arange(height, dtype=F64) - (height - 1) / 2) / focal
    rays = torch.stack(torch.broadcast_tensors(xs[None, :], ys[:, None], torch.ones(height, width, dtype=F64)), -1)
    return offset / (rays @ n)


def plane_residual(points: torch.Tensor) -> float:
    """RMS distance of (..., 3) points to their best-fit plane, relative to their spread."""
    flat = points.reshape(-1, 3)
    centred = flat - flat.mean(0)
    singular = torch.linalg.svdvals(centred)
    return float(singular[-1] / singular[0])


def test_fronto_parallel_plane_unprojects_to_closed_form():
    depth = torch.full((1, 4, 6), 2.5, dtype=F64)
    points = depth_to_points(depth, torch.tensor([10.0], dtype=F64))
    u, v = torch.meshgrid(torch.arange(6, dtype=F64), torch.arange(4, dtype=F64), indexing="xy")
    torch.testing.assert_close(points[0, ..., 0], (u - 2.5) * 2.5 / 10.0, rtol=0, atol=1e-15)
    torch.testing.assert_close(points[0, ..., 1], (v - 1.5) * 2.5 / 10.0, rtol=0, atol=1e-15)
    assert torch.equal(points[0, ..., 2], depth[0])


def test_principal_point_moves_the_optical_axis():
    depth = torch.ones(1, 3, 3, dtype=F64)
    points = depth_to_points(depth, 2.0, principal_point=torch.tensor([[0.0, 2.0]], dtype=F64))
    assert points[0, 2, 0, :2].abs().max() == 0  # pixel (x=0, y=2) is on the axis
    torch.testing.assert_close(points[0, 0, 2, :2], torch.tensor([1.0, -1.0], dtype=F64))


def test_tilted_plane_stays_planar_under_a_focal_error_but_bends_under_a_shift():
    depth = plane_depth([0.3, -0.2, 1.0], 3.0, focal=40.0, height=30, width=40)[None]
    true_points = depth_to_points(depth, 40.0)
    normal = torch.tensor([0.3, -0.2, 1.0], dtype=F64)
    torch.testing.assert_close(true_points @ normal, torch.full_like(depth, 3.0))
    assert plane_residual(depth_to_points(depth, 40.0 * 1.7)) < 1e-12  # a linear map keeps planes planar
    shifted, _ = distort(depth, 40.0, shift=1.5, focal_scale=1.0)
    assert plane_residual(depth_to_points(shifted, 40.0)) > 1e-3


def test_distort_then_correct_is_the_identity_in_float64():
    torch.manual_seed(0)
    depth = 1 + 4 * torch.rand(3, 5, 7, dtype=F64)
    focal = torch.tensor([30.0, 50.0, 80.0], dtype=F64)
    shift = torch.tensor([-0.7, 0.2, 0.9], dtype=F64)
    scale = torch.tensor([0.6, 1.0, 1.8], dtype=F64)
    observed, guess = distort(depth, focal, shift, scale)
    torch.testing.assert_close(guess, focal / scale)
    torch.testing.assert_close(observed, depth - shift[:, None, None])
    back, back_focal = apply_correction(observed, guess, shift, scale)
    torch.testing.assert_close(back, depth, rtol=0, atol=1e-14)
    torch.testing.assert_close(back_focal, focal, rtol=1e-15, atol=0)
    torch.testing.assert_close(depth_to_points(back, back_focal), depth_to_points(depth, focal), rtol=0, atol=1e-13)


def test_batch_equals_one_image_at_a_time():
    torch.manual_seed(1)
    depth = 1 + torch.rand(4, 6, 5, dtype=F64)
    focal = torch.tensor([5.0, 6.0, 7.0, 8.0], dtype=F64)
    centre = torch.rand(4, 2, dtype=F64) * 4
    batched = depth_to_points(depth, focal, centre)
    for b in range(4):
        torch.testing.assert_close(batched[b : b + 1], depth_to_points(depth[b : b + 1], focal[b : b + 1], centre[b : b + 1]))


def test_sampled_pixels_match_the_dense_unprojection():
    torch.manual_seed(2)
    depth = 1 + torch.rand(2, 6, 9, dtype=F64)
    focal = torch.tensor([7.0, 11.0], dtype=F64)
    centre = torch.tensor([[4.0, 2.5], [3.0, 3.0]], dtype=F64)
    dense = depth_to_points(depth, focal, centre)
    xy = torch.tensor([[[0, 0], [8, 5], [3, 2]], [[1, 4], [7, 0], [8, 5]]])
    sampled = pixels_to_points(xy, depth[torch.arange(2)[:, None], xy[..., 1], xy[..., 0]], focal, centre)
    torch.testing.assert_close(sampled, dense[torch.arange(2)[:, None], xy[..., 1], xy[..., 0]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outputs_keep_the_input_dtype_and_device(dtype):
    depth = torch.ones(2, 3, 4, dtype=dtype)
    assert depth_to_points(depth, 3.0).dtype == dtype
    observed, guess = distort(depth, 3.0, 0.1, 1.2)
    assert observed.dtype == guess.dtype == dtype
    meta = depth_to_points(torch.ones(2, 3, 4, dtype=dtype, device="meta"), torch.ones(2, device="meta"))
    assert meta.device.type == "meta" and meta.shape == (2, 3, 4, 3) and meta.dtype == dtype


def test_gradients_match_finite_differences():
    depth = (1 + torch.rand(1, 3, 4, dtype=F64)).requires_grad_()
    focal = torch.tensor([5.0], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d, f: depth_to_points(*apply_correction(d, f, 0.3, 1.4)), (depth, focal))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: depth_to_points(torch.ones(3, 4), 1.0), r"\(B, H, W\)"),
        (lambda: depth_to_points(torch.ones(2, 3, 4), torch.ones(3)), "focal"),
        (lambda: depth_to_points(torch.ones(2, 3, 4), 1.0, torch.zeros(2, 3)), "principal_point"),
        (lambda: distort(torch.ones(2, 3, 4), 1.0, torch.zeros(5), 1.0), "shift"),
        (lambda: apply_correction(torch.ones(2, 3, 4), 1.0, 0.0, torch.ones(1, 2)), "focal_scale"),
        (lambda: pixels_to_points(torch.zeros(2, 5, 3), torch.ones(2, 5), 1.0, torch.zeros(2, 2)), "pixels"),
    ],
)
def test_bad_shapes_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_focal_from_fov_closed_form():
    assert math.isclose(float(focal_from_fov(200, 90.0)), 100.0, rel_tol=1e-12)
