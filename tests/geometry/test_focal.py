import math

import pytest
import torch

from recon3r.geometry import depth_to_points, estimate_focal, focal_base, image_center


def _pinhole_points(focal: float, height: int, width: int, principal_point, dtype=torch.float64):
    generator = torch.Generator().manual_seed(0)
    depth = 1 + torch.rand(1, height, width, generator=generator, dtype=dtype)
    intrinsics = torch.tensor(
        [[[focal, 0, principal_point[0]], [0, focal, principal_point[1]], [0, 0, 1]]], dtype=dtype
    )
    return depth_to_points(depth, intrinsics)[0]


def test_median_on_exact_points_matches_reference(golden_geometry, golden_more):
    focal = estimate_focal(golden_geometry["pts3d_cam"], golden_geometry["pp"], mode="median")
    torch.testing.assert_close(focal, golden_geometry["focal_median"], rtol=1e-5, atol=0)
    for noise in ("clean", "noisy"):
        focal = estimate_focal(golden_more[f"estimate_focal__pts3d_{noise}"], golden_more["estimate_focal__pp"])
        torch.testing.assert_close(focal, golden_more[f"estimate_focal__median__{noise}"], rtol=1e-5, atol=0)


def test_median_takes_lower_middle_vote_when_fx_differs_from_fy(golden_geometry):
    # geometry.npz sample 0 has fx=30, fy=31: half the votes say 30, half 31.
    intrinsics = golden_geometry["K"]
    assert intrinsics[0, 0, 0] != intrinsics[0, 1, 1]
    focal = estimate_focal(golden_geometry["pts3d_cam"][:1], golden_geometry["pp"][:1])
    assert focal.item() == pytest.approx(min(intrinsics[0, 0, 0], intrinsics[0, 1, 1]).item(), rel=1e-5)


def test_weiszfeld_on_noisy_points_matches_reference(golden_geometry, golden_more):
    focal = estimate_focal(golden_geometry["noisy_pts3d"], golden_geometry["pp"], mode="weiszfeld")
    torch.testing.assert_close(focal, golden_geometry["focal_weiszfeld_noisy"], rtol=1e-5, atol=0)
    for noise in ("clean", "noisy"):
        focal = estimate_focal(
            golden_more[f"estimate_focal__pts3d_{noise}"], golden_more["estimate_focal__pp"], mode="weiszfeld"
        )
        torch.testing.assert_close(focal, golden_more[f"estimate_focal__weiszfeld__{noise}"], rtol=1e-5, atol=0)


def test_clip_bounds_are_multiples_of_the_60_degree_focal(golden_more):
    points = golden_more["estimate_focal__pts3d_noisy"]
    focal = estimate_focal(
        points, golden_more["estimate_focal__pp"], mode="weiszfeld", min_focal=0.5, max_focal=1.0
    )
    torch.testing.assert_close(focal, golden_more["estimate_focal__weiszfeld__noisy_clip_0.5_1.0"])
    assert focal_base(18, 24) == pytest.approx(24 / (2 * math.tan(math.pi / 6)))


def test_default_principal_point_is_half_the_image_size(golden_more):
    points = golden_more["estimate_focal__pts3d_noisy"][0]
    focal = estimate_focal(points, mode="weiszfeld")
    torch.testing.assert_close(focal, golden_more["cloud_opt_estimate_focal__noisy0_default_pp"], rtol=1e-5, atol=0)
    given = estimate_focal(points, golden_more["estimate_focal__pp"][0], mode="weiszfeld")
    torch.testing.assert_close(given, golden_more["cloud_opt_estimate_focal__noisy0_given_pp"], rtol=1e-5, atol=0)


def test_image_center_conventions():
    assert image_center(12, 20).tolist() == [10.0, 6.0]
    assert image_center(12, 20, pixel_centers=True).tolist() == [9.5, 5.5]


@pytest.mark.parametrize("mode", ["median", "weiszfeld"])
def test_recovers_exact_focal_in_float64(mode):
    points = _pinhole_points(37.5, 9, 13, (6.2, 4.1))
    focal = estimate_focal(points, torch.tensor([6.2, 4.1], dtype=torch.float64), mode=mode)
    assert focal.dtype == torch.float64
    assert focal.item() == pytest.approx(37.5, rel=1e-9)


@pytest.mark.parametrize("mode", ["median", "weiszfeld"])
def test_batch_cardinality_matches_per_sample_calls(golden_more, mode):
    points = golden_more["estimate_focal__pts3d_noisy"]
    principal_point = golden_more["estimate_focal__pp"]
    nested = torch.stack([points, points.flip(0)])  # (2, 2, H, W, 3)
    nested_pp = torch.stack([principal_point, principal_point.flip(0)])
    focal = estimate_focal(nested, nested_pp, mode=mode)
    assert focal.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            single = estimate_focal(nested[i, j], nested_pp[i, j], mode=mode)
            torch.testing.assert_close(focal[i, j], single)


def test_bad_shapes_and_mode_raise():
    points = torch.rand(2, 4, 5, 3)
    with pytest.raises(ValueError, match="points"):
        estimate_focal(torch.rand(2, 4, 5, 2))
    with pytest.raises(ValueError, match="principal_point"):
        estimate_focal(points, torch.rand(2, 3))
    with pytest.raises(ValueError, match="focal mode 'mean'"):
        estimate_focal(points, mode="mean")


def test_median_has_no_gradient_and_weiszfeld_passes_gradcheck():
    points = _pinhole_points(11.0, 3, 4, (1.4, 1.1)).unsqueeze(0)
    points = (points + 0.05 * torch.randn(points.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    points.requires_grad_(True)
    assert not estimate_focal(points, mode="median").requires_grad
    principal_point = torch.tensor([[1.4, 1.1]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: estimate_focal(p, principal_point, mode="weiszfeld"), (points,))
