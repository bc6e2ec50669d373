"""Shared fixtures: small ground-truth scenes with oracle predictions (the goldens are in tests/conftest.py)."""

import pytest

from recon3r.align.synthetic import make_scene


@pytest.fixture(scope="session")
def five_views():
    """Five 32×48 views over a 120° arc, each with its own focal."""
    return make_scene(5, 32, 48, arc_degrees=120, seed=1)


@pytest.fixture(scope="session")
def two_views():
    return make_scene(2, 32, 48, arc_degrees=40, seed=1)
