import pytest
import torch

from recon3r.align.parametrization import quaternion_to_matrix
from recon3r.align.pnp import solve_pnp, solve_pnp_unknown_focal
from recon3r.eval.metrics import rotation_angle


def _problem(seed: int, planar: bool, outliers: float = 0.2, noise: float = 0.3, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    points = torch.randn(1500, 3, generator=gen, dtype=dtype)
    if planar:
        points[:, 2] = 0
    rotation = quaternion_to_matrix(torch.randn(4, generator=gen, dtype=dtype))
    translation = torch.tensor([0.3, -0.2, 5.0], dtype=dtype)
    intrinsics = torch.tensor([[40.0, 0, 23.5], [0, 40.0, 15.5], [0, 0, 1]], dtype=dtype)
    cam = points @ rotation.T + translation
    keep = cam[:, 2] > 0.5
    points, cam = points[keep], cam[keep]
    pixels = cam[:, :2] / cam[:, 2:] * 40 + intrinsics[:2, 2]
    pixels = pixels + noise * torch.randn(pixels.shape, generator=gen, dtype=dtype)
    bad = torch.rand(len(pixels), generator=gen) < outliers
    pixels[bad] = torch.rand(int(bad.sum()), 2, generator=gen, dtype=dtype) * 48
    return points, pixels, intrinsics, rotation, translation, bad


@pytest.mark.parametrize("planar", [False, True], ids=["general", "planar"])
def test_pnp_recovers_pose_despite_outliers(planar):
    points, pixels, intrinsics, rotation, translation, bad = _problem(0, planar)
    result = solve_pnp(points, pixels, intrinsics, generator=torch.Generator().manual_seed(1))
    assert float(rotation_angle(result.cam_from_world[:3, :3], rotation)) < 0.5
    assert float((result.cam_from_world[:3, 3] - translation).norm()) < 0.02
    # inliers are (nearly) exactly the clean points
    agreement = (result.inliers == ~bad).double().mean()
    assert agreement > 0.97


def test_pnp_is_exact_without_noise():
    points, pixels, intrinsics, rotation, translation, _ = _problem(2, False, outliers=0.0, noise=0.0)
    result = solve_pnp(points, pixels, intrinsics, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(result.cam_from_world[:3, :3], rotation, rtol=0, atol=1e-8)
    torch.testing.assert_close(result.cam_from_world[:3, 3], translation, rtol=0, atol=1e-8)
    assert result.num_inliers == len(points)


def test_pnp_with_unknown_focal_finds_the_focal():
    points, pixels, intrinsics, rotation, _, _ = _problem(3, False, outliers=0.1)
    result = solve_pnp_unknown_focal(
        points, pixels, intrinsics[:2, 2], (32, 48), generator=torch.Generator().manual_seed(1)
    )
    assert float(result.focal) == pytest.approx(40.0, rel=0.01)
    assert float(rotation_angle(result.cam_from_world[:3, :3], rotation)) < 0.5


def test_pnp_runs_in_float32():
    points, pixels, intrinsics, rotation, _, _ = _problem(4, False, dtype=torch.float32)
    result = solve_pnp(points, pixels, intrinsics, generator=torch.Generator().manual_seed(1))
    assert result.cam_from_world.dtype == torch.float32
    assert float(rotation_angle(result.cam_from_world[:3, :3].double(), rotation.double())) < 0.5


def test_pnp_rejects_bad_shapes():
    with pytest.raises(ValueError, match="points \\(M, 3\\)"):
        solve_pnp(torch.zeros(10, 2), torch.zeros(10, 2), torch.eye(3))
    with pytest.raises(ValueError, match="at least 6 points"):
        solve_pnp(torch.zeros(4, 3), torch.zeros(4, 2), torch.eye(3))
