"""Golden fixtures recorded from the reference implementation (read-only, outside the repo)."""

from pathlib import Path

import numpy as np
import pytest
import torch

GOLDEN = Path(__file__).resolve().parents[2] / ".." / "shared" / "golden"


class Golden:
    """Lazy view of one golden .npz: `golden["key"]` is a torch tensor."""

    def __init__(self, path: Path):
        self._data = np.load(path)

    def __getitem__(self, key: str) -> torch.Tensor:
        return torch.from_numpy(np.array(self._data[key]))


@pytest.fixture(scope="session")
def golden_geometry() -> Golden:
    return Golden(GOLDEN / "geometry.npz")


@pytest.fixture(scope="session")
def golden_more() -> Golden:
    return Golden(GOLDEN / "geometry_more.npz")
