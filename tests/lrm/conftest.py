"""A tiny LRM trained once per session on procedural object orbits (about 10 s on one core)."""

import pytest

TINY_TRAINING = dict(model={"enc_depth": 1, "dec_depth": 1}, steps=300, train_scenes=24, test_scenes=4)


@pytest.fixture(scope="session")
def trained_lrm(tmp_path_factory):
    from recon3r.lrm.train import LRMTrainConfig, train_lrm

    out = tmp_path_factory.mktemp("lrm_tiny")
    result = train_lrm(LRMTrainConfig(**TINY_TRAINING, out_dir=str(out)))
    return result, out
