"""A tiny streaming model trained once per session on procedural walk-throughs (about 7 s on one core)."""

import pytest

from recon3r.models.point3r import POINT3R_CONFIGS

TINY_TRAINING = dict(model=POINT3R_CONFIGS["test"], steps=150, frames=3, views=5, train_scenes=12, test_scenes=4,
                     lr=1e-3)


@pytest.fixture(scope="session")
def trained_stream(tmp_path_factory):
    from recon3r.stream.train import StreamTrainConfig, train_stream

    out = tmp_path_factory.mktemp("point3r_tiny")
    result = train_stream(StreamTrainConfig(**TINY_TRAINING, out_dir=str(out)))
    return result, out
