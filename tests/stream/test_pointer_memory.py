"""PointerMemory.update: fusion within the radius, appending beyond it, bounded growth on repeats."""

import pytest
import torch

from recon3r.stream.memory import PointerMemory, nearest_pointers


def _memory(positions, features):
    return PointerMemory.empty(features.shape[1], dtype=torch.float64).update(positions, features, threshold=0.0)


def test_empty_memory_takes_every_new_pointer():
    pos = torch.tensor([[0.0, 0, 0], [1, 0, 0]], dtype=torch.float64)
    mem = _memory(pos, torch.eye(2, dtype=torch.float64))
    assert len(mem) == 2
    torch.testing.assert_close(mem.positions, pos)
    torch.testing.assert_close(mem.counts, torch.ones(2, dtype=torch.float64))


def test_pointer_within_threshold_is_fused_as_count_weighted_mean_and_far_one_is_kept():
    mem = _memory(torch.tensor([[0.0, 0, 0], [10, 0, 0]], dtype=torch.float64),
                  torch.tensor([[2.0, 0], [0, 4]], dtype=torch.float64))
    new_pos = torch.tensor([[0.3, 0, 0], [5, 0, 0]], dtype=torch.float64)
    new_feat = torch.tensor([[4.0, 2], [1, 1]], dtype=torch.float64)
    out = mem.update(new_pos, new_feat, threshold=0.5)
    assert len(out) == 3  # (0.3, 0, 0) fused into the origin; (5, 0, 0) is 5 from both: appended
    torch.testing.assert_close(out.positions[0], torch.tensor([0.15, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(out.features[0], torch.tensor([3.0, 1], dtype=torch.float64))
    torch.testing.assert_close(out.positions[1:], torch.tensor([[10.0, 0, 0], [5, 0, 0]], dtype=torch.float64))
    torch.testing.assert_close(out.counts, torch.tensor([2.0, 1, 1], dtype=torch.float64))


def test_several_new_pointers_fuse_into_one_and_counts_weight_the_next_update():
    mem = _memory(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
    out = mem.update(torch.tensor([[0.1, 0, 0], [-0.1, 0, 0]], dtype=torch.float64),
                     torch.tensor([[3.0], [6.0]], dtype=torch.float64), threshold=0.2)
    assert len(out) == 1 and float(out.counts[0]) == 3
    torch.testing.assert_close(out.features, torch.tensor([[3.0]], dtype=torch.float64))
    out = out.update(torch.zeros(1, 3, dtype=torch.float64), torch.tensor([[7.0]], dtype=torch.float64), 0.2)
    torch.testing.assert_close(out.features, torch.tensor([[4.0]], dtype=torch.float64))  # (3·3 + 7) / 4


def test_threshold_is_inclusive_and_exclusive_just_beyond():
    mem = _memory(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
    at = mem.update(torch.tensor([[0.0, 0.5, 0]], dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64), 0.5)
    beyond = mem.update(torch.tensor([[0.0, 0.5001, 0]], dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64), 0.5)
    assert (len(at), len(beyond)) == (1, 2)


def test_repeating_the_same_view_keeps_the_memory_size_bounded():
    gen = torch.Generator().manual_seed(0)
    pos = torch.rand(50, 3, generator=gen) * 10
    feat = torch.randn(50, 8, generator=gen)
    mem = PointerMemory.empty(8)
    for _ in range(20):
        mem = mem.update(pos + 1e-4 * torch.randn(50, 3, generator=gen), feat, threshold=0.01)
    assert len(mem) == 50
    assert float(mem.counts.sum()) == 20 * 50


def test_fused_features_stay_differentiable():
    feat = torch.ones(1, 2, requires_grad=True)
    mem = PointerMemory.empty(2).update(torch.zeros(1, 3), feat, 0.1)
    new = torch.full((1, 2), 3.0, requires_grad=True)
    mem = mem.update(torch.zeros(1, 3), new, 0.1)
    mem.features.sum().backward()
    torch.testing.assert_close(feat.grad, torch.full((1, 2), 0.5))
    torch.testing.assert_close(new.grad, torch.full((1, 2), 0.5))


def test_update_rejects_bad_shapes():
    mem = PointerMemory.empty(4)
    with pytest.raises(ValueError, match="positions must be"):
        mem.update(torch.zeros(3, 2), torch.zeros(3, 4), 0.1)
    with pytest.raises(ValueError, match="features must be"):
        mem.update(torch.zeros(3, 3), torch.zeros(3, 5), 0.1)


def test_chunked_nearest_search_matches_a_dense_reference():
    gen = torch.Generator().manual_seed(2)
    query, pointers = torch.randn(37, 3, generator=gen, dtype=torch.float64), torch.randn(11, 3, generator=gen,
                                                                                       dtype=torch.float64)
    dense = (query[:, None] - pointers[None]).norm(dim=-1)
    for max_elements in (1, 20, 10_000):
        dist, index = nearest_pointers(query, pointers, max_elements=max_elements)
        torch.testing.assert_close(dist, dense.min(dim=1).values)
        assert torch.equal(index, dense.argmin(dim=1))
