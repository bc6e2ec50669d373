"""Rotation vectors and cross-product matrices (`recon3r.geometry.rotations`)."""

import pytest
import torch

from recon3r.geometry import axis_angle_to_rotation, skew


def test_skew_matrix_computes_the_cross_product():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close((skew(a) @ b[..., None])[..., 0], torch.linalg.cross(a, b))


def test_rotation_vector_matches_the_matrix_exponential():
    gen = torch.Generator().manual_seed(1)
    vectors = torch.randn(4, 6, 3, generator=gen, dtype=torch.float64)  # angles up to ~3 rad
    torch.testing.assert_close(axis_angle_to_rotation(vectors), torch.linalg.matrix_exp(skew(vectors)))


@pytest.mark.parametrize("angle", [0.0, 1e-9, 5e-5, 2e-4])
def test_small_rotation_vectors_are_exact(angle):
    vector = torch.tensor([[0.6, -0.8, 0.0]], dtype=torch.float64) * angle
    rotation = axis_angle_to_rotation(vector)
    torch.testing.assert_close(rotation, torch.linalg.matrix_exp(skew(vector)), rtol=0, atol=1e-15)
    assert torch.isfinite(rotation).all()


def test_rotation_vector_gradient_is_finite_at_zero():
    vector = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_rotation, (vector + 1e-3,))
    (axis_angle_to_rotation(vector) ** 2).sum().backward()
    assert torch.isfinite(vector.grad).all()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="dimension of 3"):
        skew(torch.zeros(2, 4))
