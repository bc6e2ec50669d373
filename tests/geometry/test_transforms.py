import pytest
import torch

from recon3r.geometry import apply_transform, invert_transform, make_transform


def test_batched_pose_on_point_maps_matches_reference(golden_more):
    out = apply_transform(golden_more["geotrf__Trf_B44"], golden_more["geotrf__pts_BHW3"])
    torch.testing.assert_close(out, golden_more["geotrf__out_B44_BHW3"], rtol=1e-5, atol=1e-5)


def test_single_pose_on_point_list_matches_reference(golden_more):
    out = apply_transform(golden_more["geotrf__Trf_B44"][0], golden_more["geotrf__pts_N3"])
    torch.testing.assert_close(out, golden_more["geotrf__out_44_N3"], rtol=1e-5, atol=1e-5)


def test_batched_rotation_matches_reference(golden_more):
    out = apply_transform(golden_more["geotrf__Trf_B44"][:, :3, :3], golden_more["geotrf__pts_BN3"])
    torch.testing.assert_close(out, golden_more["geotrf__out_B33_BN3"], rtol=1e-5, atol=1e-5)


def test_inverse_of_rigid_poses_matches_reference(golden_more):
    out = invert_transform(golden_more["inv__in_B44"])
    torch.testing.assert_close(out, golden_more["inv__out_B44"], rtol=1e-5, atol=1e-5)


def test_inverse_of_similarity_round_trips():
    generator = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, 3, generator=generator, dtype=torch.float64))
    rotation = rotation * torch.linalg.det(rotation)[:, None, None]
    transform = make_transform(rotation, torch.randn(3, 3, dtype=torch.float64), torch.tensor([0.5, 1.0, 3.0]))
    torch.testing.assert_close(invert_transform(transform) @ transform, torch.eye(4, dtype=torch.float64).expand(3, 4, 4))


def test_apply_transform_bad_shapes_raise():
    with pytest.raises(ValueError, match="dimension of 3"):
        apply_transform(torch.eye(4), torch.rand(5, 2))
    with pytest.raises(ValueError, match="transform must be"):
        apply_transform(torch.eye(2), torch.rand(5, 3))
    with pytest.raises(ValueError, match="batch mismatch"):
        apply_transform(torch.eye(4).repeat(2, 1, 1), torch.rand(3, 5, 3))


def test_apply_and_invert_gradcheck():
    generator = torch.Generator().manual_seed(1)
    transform = torch.randn(2, 4, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    points = torch.randn(2, 3, 2, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(apply_transform, (transform, points))
    rotation, _ = torch.linalg.qr(torch.randn(2, 3, 3, generator=generator, dtype=torch.float64))
    pose = make_transform(rotation, torch.randn(2, 3, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(invert_transform, (pose,))
