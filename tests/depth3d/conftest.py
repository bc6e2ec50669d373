"""Shared fixtures: a few small procedural views with exact depth and intrinsics."""

import pytest

from recon3r.depth3d.samples import render_views


@pytest.fixture(scope="session")
def train_views():
    """Eight 'train' views at 32 px (a few milliseconds each)."""
    return render_views("train", 8, size=32)


@pytest.fixture(scope="session")
def test_views():
    """Forty held-out 'test' views at 64 px."""
    return render_views("test", 40, size=64)
