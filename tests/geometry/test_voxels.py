"""voxel_representatives: one point per occupied voxel, chosen by the given order, any dtype."""

from __future__ import annotations

import pytest
import torch

from recon3r.geometry.voxels import voxel_representatives


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_one_point_per_occupied_voxel_against_a_reference(dtype):
    points = torch.rand(500, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype) * 2 - 1
    keep = voxel_representatives(points, 0.5)
    cells = torch.floor(points / 0.5).long()
    reference = {}
    for index, cell in enumerate(map(tuple, cells.tolist())):
        reference.setdefault(cell, index)  # lowest index per voxel
    assert keep.tolist() == sorted(reference.values())
    assert len(keep) == len(set(map(tuple, cells.tolist())))


def test_the_order_picks_which_point_represents_a_voxel():
    points = torch.tensor([[0.1, 0.1, 0.1], [0.2, 0.2, 0.2], [5.0, 5.0, 5.0]])
    assert voxel_representatives(points, 1.0).tolist() == [0, 2]
    assert voxel_representatives(points, 1.0, order=torch.tensor([1, 2, 0])).tolist() == [1, 2]


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        voxel_representatives(torch.zeros(4, 2), 1.0)
    with pytest.raises(ValueError, match="positive"):
        voxel_representatives(torch.zeros(4, 3), 0.0)
    assert voxel_representatives(torch.zeros(0, 3), 1.0).shape == (0,)
