"""Fixtures of the demo tests: a tiny random-weight checkpoint and small photos made on the fly."""

import numpy as np
import pytest
import torch
from PIL import Image

TINY = dict(enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2,
            img_size=(224, 224), head_type="linear", pos_embed="RoPE100", landscape_only=False)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A folder with model.safetensors + config.json of a tiny seeded random-weight pair model."""
    from recon3r.models import build_model, save_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("demo_weights")
    save_model(build_model("AsymmetricCroCo3DStereo", TINY), folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tiny_weights):
    from recon3r import load_model

    return load_model(tiny_weights, device="cpu")


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """Three 400x300 PNGs of one random colour texture, shifted sideways (a camera pan).

    With the seeded tiny model these give a finite two-view alignment at the default minimum
    confidence (as in tests/test_reconstruct.py).
    """
    folder = tmp_path_factory.mktemp("demo_photos")
    base = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    paths = []
    for k in range(3):
        path = folder / f"view_{k}.png"
        Image.fromarray(np.roll(base, 12 * k, axis=1)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo_text") / "notes.txt"
    path.write_text("these are not pixels\n")
    return path
