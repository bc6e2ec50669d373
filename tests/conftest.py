"""Shared test settings and fixtures.

One torch thread keeps tiny-model tests fast and steady on small CI machines.
"""

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)

# A tiny pair model at the 224 inference layout: milliseconds per pair on a CPU.
TINY_PAIR_MODEL = dict(enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2,
                       img_size=(224, 224), head_type="linear", pos_embed="RoPE100", landscape_only=False)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A folder with model.safetensors + config.json of a tiny seeded random-weight pair model."""
    from recon3r.models import build_model, save_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_weights")
    save_model(build_model("AsymmetricCroCo3DStereo", TINY_PAIR_MODEL), folder)
    return folder


@pytest.fixture(scope="session")
def photo_paths(tmp_path_factory):
    """Three 400x300 PNGs of one random colour texture, shifted sideways (a camera pan)."""
    folder = tmp_path_factory.mktemp("photos")
    base = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    paths = []
    for k in range(3):
        path = folder / f"view_{k}.png"
        Image.fromarray(np.roll(base, 12 * k, axis=1)).save(path)
        paths.append(path)
    return paths
