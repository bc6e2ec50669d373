"""Point3R's layers: pointer update rule, memory cap and padding, multi-base 3D RoPE, float16 2D RoPE, pose decoding."""

import math

import pytest
import torch

from recon3r.geometry import pose_encoding_to_world_from_cam, quaternion_to_rotation
from recon3r.models.heads.pose import postprocess_pose
from recon3r.models.layers.pointer_memory import PointerMemory, merge_pointers, merge_threshold, patch_centres
from recon3r.models.layers.rope import RoPE2D, apply_rotary, patch_positions, prepend_unrotated
from recon3r.models.layers.rope3d import RoPE3D, axis_parts

INF = math.inf


# ------------------------------------------------------------------------------------ pointer memory
def test_patch_centres_are_patch_means_in_raster_order():
    points = torch.randn(2, 32, 48, 3)
    centres = patch_centres(points, 16)
    assert centres.shape == (2, 6, 3)
    torch.testing.assert_close(centres[1, 4], points[1, 16:32, 16:32].reshape(-1, 3).mean(0))


def test_threshold_spans_pointers_and_candidates():
    tau = merge_threshold(torch.zeros(1, 3), torch.tensor([[2.0, 4.0, 4.0]]))
    assert float(tau) == pytest.approx(6.0 / 20)


def test_merged_candidates_are_averaged_and_overwrite_their_pointer_far_ones_are_appended():
    positions = torch.tensor([[0.0, 0, 0], [10.0, 0, 0]])
    features = torch.tensor([[100.0], [200.0]])
    candidates = torch.tensor([[0.2, 0, 0], [0.4, 0, 0], [5.0, 0, 0], [9.9, 0, 0]])
    cand_features = torch.tensor([[1.0], [3.0], [7.0], [9.0]])
    # τ = 10/20 = 0.5: the first two merge into pointer 0, the last into pointer 1, (5, 0, 0) is appended.
    pos, feat, stats = merge_pointers(positions, features, candidates, cand_features)
    assert (stats.merged, stats.added) == (3, 1) and stats.threshold == pytest.approx(0.5)
    torch.testing.assert_close(pos, torch.tensor([[0.3, 0, 0], [9.9, 0, 0], [5.0, 0, 0]]))
    torch.testing.assert_close(feat, torch.tensor([[2.0], [9.0], [7.0]]))  # the old 100 and 200 take no part


def test_features_stay_differentiable_through_merges():
    features = torch.zeros(2, 1, requires_grad=True)
    cand = torch.ones(3, 1, requires_grad=True)
    _, feat, _ = merge_pointers(torch.tensor([[0.0, 0, 0], [10.0, 0, 0]]), features,
                                torch.tensor([[0.1, 0, 0], [0.2, 0, 0], [20.0, 0, 0]]), cand)
    feat.sum().backward()
    torch.testing.assert_close(features.grad, torch.tensor([[0.0], [1.0]]))  # pointer 0 was overwritten
    torch.testing.assert_close(cand.grad, torch.tensor([[0.5], [0.5], [1.0]]))


def test_cap_appends_only_the_farthest_candidates_and_merges_the_rest():
    positions = torch.tensor([[0.0, 0, 0], [10.0, 0, 0]])
    candidates = torch.tensor([[3.0, 0, 0], [5.0, 0, 0], [8.0, 0, 0]])
    pos, _, stats = merge_pointers(positions, torch.zeros(2, 1), candidates, torch.ones(3, 1), max_pointers=3)
    assert (stats.added, stats.merged) == (1, 2)
    torch.testing.assert_close(pos[2], torch.tensor([5.0, 0, 0]))  # 5 from both pointers: the farthest
    torch.testing.assert_close(pos[:2], torch.tensor([[3.0, 0, 0], [8.0, 0, 0]]))


def test_padding_and_mask_for_memories_of_different_lengths():
    memory = PointerMemory((torch.ones(2, 3), torch.ones(3, 3)), (torch.ones(2, 4), torch.ones(3, 4)))
    features, positions, valid = memory.padded()
    assert features.shape == (2, 3, 4) and positions.shape == (2, 3, 3)
    assert valid.tolist() == [[True, True, False], [True, True, True]]
    assert float(features[0, 2].abs().sum()) == 0
    assert PointerMemory.from_frame(torch.ones(2, 3, 3), torch.ones(2, 3, 4)).padded()[2] is None


# --------------------------------------------------------------------------------------------- RoPE
def _literal_rope3d(x, pos, bases=(10.0, 100.0, 1000.0, 10000.0)):
    """The official formula, written naively: per axis part, per base, chunk(2) rotate-half; mean over bases."""
    outs = []
    for base in bases:
        parts = []
        for axis, (offset, n) in enumerate(axis_parts(x.shape[-1])):
            part = x[..., offset : offset + n]
            inv = 1.0 / (base ** (torch.arange(0, n, 2).float() / n))
            theta = pos[..., axis, None] * inv
            table = torch.cat((theta, theta), dim=-1)[..., :n][:, None]
            a, b = part.chunk(2, dim=-1)
            parts.append(part * table.cos() + torch.cat((-b, a), dim=-1) * table.sin())
        outs.append(torch.cat(parts, dim=-1))
    return torch.stack(outs).mean(0)


@pytest.mark.parametrize("head_dim", [16, 20, 12, 10, 64, 48])
def test_rope3d_table_applies_the_literal_official_formula(head_dim):
    g = torch.Generator().manual_seed(head_dim)
    x = torch.randn(2, 3, 5, head_dim, generator=g)
    pos = torch.randn(2, 5, 3, generator=g) * 3
    ours = apply_rotary(x, RoPE3D().table(pos, head_dim))
    torch.testing.assert_close(ours, _literal_rope3d(x, pos), atol=2e-6, rtol=0)


def test_rope3d_parts_use_floor_thirds():
    assert axis_parts(64) == [(0, 21), (21, 21), (42, 22)]
    assert axis_parts(48) == [(0, 16), (16, 16), (32, 16)]


def test_prepended_rows_are_left_unrotated():
    x = torch.randn(1, 2, 4, 16)
    table = prepend_unrotated(RoPE3D().table(torch.randn(1, 3, 3), 16), 1)
    out = apply_rotary(x, table)
    torch.testing.assert_close(out[:, :, 0], x[:, :, 0])
    assert not torch.allclose(out[:, :, 1:], x[:, :, 1:])


def test_float16_rope_table_reproduces_the_half_precision_fallback():
    """CroCo's PyTorch RoPE on float16 q: fp16 angles, fp16 cos/sin, fp16 products and sum."""
    rope = RoPE2D(100.0)
    pos = patch_positions(1, 3, 4)
    x = torch.randn(1, 2, 12, 16)
    ours = apply_rotary(x, rope.table(pos, 16, dtype=torch.float16))
    assert ours.dtype == torch.float32
    half = x.half()
    inv = rope.inverse_frequencies(8)
    expected = []
    for axis, chunk in enumerate(half.chunk(2, dim=-1)):
        angles = (pos[0, :, axis, None].float() * inv).half()
        angles = torch.cat((angles, angles), dim=-1)
        a, b = chunk.chunk(2, dim=-1)
        expected.append(chunk * angles.cos() + torch.cat((-b, a), dim=-1) * angles.sin())
    torch.testing.assert_close(ours, torch.cat(expected, dim=-1).float(), atol=0, rtol=0)
    assert not torch.equal(ours, apply_rotary(x, rope.table(pos, 16)))


# --------------------------------------------------------------------------------------------- pose
def test_quaternion_to_rotation_matches_a_known_rotation_for_any_norm():
    half = math.radians(90) / 2
    q = torch.tensor([math.cos(half), 0.0, 0.0, math.sin(half)], dtype=torch.float64)  # 90° about z
    expected = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(quaternion_to_rotation(q), expected)
    torch.testing.assert_close(quaternion_to_rotation(3 * q), expected)
    r = quaternion_to_rotation(torch.randn(5, 4, dtype=torch.float64))
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(5, 3, 3))
    with pytest.raises(ValueError, match="dimension of 4"):
        quaternion_to_rotation(torch.zeros(3))


def test_pose_decoding_gives_unit_quaternions_with_nonnegative_real_part_and_exp_translation():
    raw = torch.tensor([[0.0, 0.0, 2.0, -2.0, 0.0, 0.0, 0.0], [3.0, 4.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    pose = postprocess_pose(raw, ("exp", -INF, INF))
    torch.testing.assert_close(pose[0, :3], torch.tensor([0.0, 0.0, math.expm1(2.0)]))
    torch.testing.assert_close(pose[0, 3:], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(pose[1, :3], torch.tensor([3.0, 4.0, 0.0]) / 5 * math.expm1(5.0))
    c2w = pose_encoding_to_world_from_cam(pose)
    torch.testing.assert_close(c2w[0], torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, math.expm1(2.0)],
                                                     [0, 0, 0, 1]]))
