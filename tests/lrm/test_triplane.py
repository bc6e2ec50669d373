"""sample_triplane: exact at texel centres, bilinear in between, batched, differentiable, shape checks."""

import pytest
import torch

from recon3r.lrm.triplane import PLANE_AXES, sample_triplane, texel_centers


def _planes(B=2, C=3, R=5, dtype=torch.float64):
    return torch.randn(B, 3, C, R, R, dtype=dtype, generator=torch.Generator().manual_seed(0))


def test_texel_centres_return_the_sum_of_the_three_texels_exactly():
    planes = _planes()
    B, _, C, R, _ = planes.shape
    u = texel_centers(R, torch.float64)
    idx = torch.tensor([[0, 4, 2], [3, 1, 0], [4, 4, 4], [2, 0, 3]])  # (i_x, i_y, i_z) texel indices
    points = u[idx][None].expand(B, -1, -1)
    got = sample_triplane(planes, points)
    expected = torch.zeros(B, len(idx), C, dtype=torch.float64)
    for p, axes in enumerate(PLANE_AXES):
        col, row = idx[:, axes[0]], idx[:, axes[1]]
        expected += planes[:, p, :, row, col].permute(0, 2, 1)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_values_are_linear_between_neighbouring_texel_centres(axis):
    # Moving along one axis between two texel centres, two plane terms are linear and one is constant.
    planes = _planes()
    u = texel_centers(5, torch.float64)
    a = torch.stack((u[1], u[3], u[2]))
    b = a.clone()
    b[axis] = u[2] if axis != 2 else u[3]
    fa, fb = sample_triplane(planes, a.expand(2, 1, 3)), sample_triplane(planes, b.expand(2, 1, 3))
    for s in (0.25, 0.5, 0.8):
        got = sample_triplane(planes, (a + s * (b - a)).expand(2, 1, 3))
        torch.testing.assert_close(got, (1 - s) * fa + s * fb, atol=1e-12, rtol=0)


def test_off_grid_points_are_bilinear_in_each_plane():
    planes = torch.zeros(1, 3, 1, 4, 4, dtype=torch.float64)
    planes[0, 0, 0] = torch.arange(16, dtype=torch.float64).reshape(4, 4) ** 1.5  # XY only
    u = texel_centers(4, torch.float64)
    sx, sy = 0.3, 0.7
    point = torch.stack((u[1] + sx * (u[2] - u[1]), u[2] + sy * (u[3] - u[2]), torch.tensor(0.1, dtype=torch.float64)))
    p = planes[0, 0, 0]  # rows = y, columns = x
    expected = ((1 - sx) * (1 - sy) * p[2, 1] + sx * (1 - sy) * p[2, 2] + (1 - sx) * sy * p[3, 1] + sx * sy * p[3, 2])
    assert sample_triplane(planes, point[None, None]).item() == pytest.approx(expected.item(), abs=1e-12)


def test_planes_index_the_documented_axes():
    planes = torch.zeros(1, 3, 1, 4, 4, dtype=torch.float64)
    u = texel_centers(4, torch.float64)
    planes[0, 1, 0, 3, 0] = 1.0  # XZ plane: column 0 (x = u0), row 3 (z = u3)
    hit = sample_triplane(planes, torch.stack((u[0], u[2], u[3]))[None, None])
    miss = sample_triplane(planes, torch.stack((u[3], u[2], u[0]))[None, None])
    assert hit.item() == pytest.approx(1.0) and miss.item() == pytest.approx(0.0)


def test_batch_elements_are_independent_and_gradcheck_passes():
    planes = _planes(B=2, C=2, R=3).requires_grad_()
    points = (torch.rand(2, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8)
    points.requires_grad_()
    both = sample_triplane(planes, points)
    torch.testing.assert_close(both[1:], sample_triplane(planes[1:], points[1:]))
    assert torch.autograd.gradcheck(sample_triplane, (planes, points))


def test_float32_matches_float64():
    planes, points = _planes(), torch.rand(2, 7, 3, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(sample_triplane(planes.float(), points.float()).double(),
                               sample_triplane(planes, points), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("planes_shape, points_shape", [((2, 2, 4, 5, 5), (2, 3, 3)), ((2, 3, 4, 5, 5), (1, 3, 3)),
                                                         ((2, 3, 4, 5, 5), (2, 3, 2))])
def test_bad_shapes_raise(planes_shape, points_shape):
    with pytest.raises(ValueError):
        sample_triplane(torch.zeros(planes_shape), torch.zeros(points_shape))
