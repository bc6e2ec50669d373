"""Shared fixtures: the reference goldens and small ground-truth scenes with oracle predictions."""

from pathlib import Path

import numpy as np
import pytest
import torch

from recon3r.align.synthetic import make_scene

GOLDEN = Path(__file__).resolve().parents[2] / ".." / "shared" / "golden"


class Golden:
    """Lazy view of one golden .npz: `golden["key"]` is a torch tensor."""

    def __init__(self, path: Path):
        self._data = np.load(path)

    def __getitem__(self, key: str) -> torch.Tensor:
        return torch.from_numpy(np.array(self._data[key]))


@pytest.fixture(scope="session")
def golden_more() -> Golden:
    return Golden(GOLDEN / "geometry_more.npz")


@pytest.fixture(scope="session")
def five_views():
    """Five 32×48 views over a 120° arc, each with its own focal."""
    return make_scene(5, 32, 48, arc_degrees=120, seed=1)


@pytest.fixture(scope="session")
def two_views():
    return make_scene(2, 32, 48, arc_degrees=40, seed=1)
