import torch

from recon3r.align.parametrization import (
    matrix_to_quaternion,
    quaternion_to_matrix,
    signed_expm1,
    signed_log1p,
)


def test_quaternion_round_trip_including_half_turns():
    gen = torch.Generator().manual_seed(0)
    quats = torch.nn.functional.normalize(torch.randn(200, 4, generator=gen, dtype=torch.float64), dim=-1)
    half_turns = torch.tensor(
        [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0.6, 0.8, 0, 0]], dtype=torch.float64
    )
    quats = torch.cat([quats, half_turns])
    quats = torch.where(quats[:, 3:] < 0, -quats, quats)
    rotations = quaternion_to_matrix(quats)
    torch.testing.assert_close(
        rotations.transpose(-1, -2) @ rotations, torch.eye(3, dtype=torch.float64).expand(204, 3, 3)
    )
    torch.testing.assert_close(torch.linalg.det(rotations), torch.ones(204, dtype=torch.float64))
    back = matrix_to_quaternion(rotations)
    # q and −q are the same rotation (w = 0 leaves the sign free)
    assert torch.minimum((back - quats).abs().amax(-1), (back + quats).abs().amax(-1)).max() < 1e-12


def test_quaternion_to_matrix_is_scale_invariant_and_right_handed():
    q = torch.tensor([0.0, 0.0, 1.0, 1.0])  # 90° about z
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(quaternion_to_matrix(q * 7.0), expected)


def test_signed_log_round_trip():
    x = torch.tensor([-100.0, -1.0, -1e-3, 0.0, 2e-3, 3.0, 50.0], dtype=torch.float64)
    torch.testing.assert_close(signed_expm1(signed_log1p(x)), x)
    assert torch.equal(torch.sign(signed_log1p(x)), torch.sign(x))
