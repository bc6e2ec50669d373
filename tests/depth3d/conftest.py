"""Shared fixtures: a few small procedural views with exact depth and intrinsics."""

import pytest

from recon3r.eval.depth_to_3d import held_out_depth_views


@pytest.fixture(scope="session")
def train_views():
    """Eight 'train' views at 32 px (a few milliseconds each)."""
    return held_out_depth_views(8, size=32, split="train")


@pytest.fixture(scope="session")
def test_views():
    """Forty held-out 'test' views at 64 px."""
    return held_out_depth_views(40, size=64)
