"""Fixtures of the demo tests (the tiny checkpoint and the photos come from tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session")
def tiny_model(tiny_weights):
    from recon3r import load_model

    return load_model(tiny_weights, device="cpu")


@pytest.fixture(scope="session")
def photos(photo_paths):
    """The shared panning photos; with the seeded tiny model they give a finite two-view alignment."""
    return photo_paths


@pytest.fixture(scope="session")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo_text") / "notes.txt"
    path.write_text("these are not pixels\n")
    return path
