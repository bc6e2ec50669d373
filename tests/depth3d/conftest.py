"""Shared fixtures: a few small procedural views (scenes and single objects) with exact depth and intrinsics."""

import numpy as np
import pytest

from recon3r.eval.depth_to_3d import DepthView, held_out_depth_views


@pytest.fixture(scope="session")
def train_views():
    """Eight 'train' views at 32 px (a few milliseconds each)."""
    return held_out_depth_views(8, size=32, split="train")


@pytest.fixture(scope="session")
def test_views():
    """Forty held-out 'test' views of rooms and yards at 64 px."""
    return held_out_depth_views(40, size=64)


@pytest.fixture(scope="session")
def object_views():
    """Forty held-out 'test' views of single objects (depth only on the object) at 64 px."""
    from recon3r.data import Procedural

    dataset = Procedural(scenes=40, views=1, kind="isolated", size=64, split="test", num_views=1)
    views = [dataset.scene(s)[0] for s in range(40)]
    return [DepthView(v["depthmap"], v["camera_intrinsics"].astype(np.float64), None, v["label"]) for v in views]
