"""The released checkpoints' configurations build (on the meta device) with exactly the official names and shapes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from recon3r.models import OFFICIAL_CONFIGS, build_model
from recon3r.models.checkpoint import parse_constructor

KEY_FILES = {
    "keys_official_224_linear.txt": "DUSt3R_ViTLarge_BaseDecoder_224_linear",
    "keys_official_512_linear.txt": "DUSt3R_ViTLarge_BaseDecoder_512_linear",
    "keys_official_512_dpt.txt": "DUSt3R_ViTLarge_BaseDecoder_512_dpt",
}


def _read_key_file(path: Path):
    lines = path.read_text().splitlines()
    constructor = next(line for line in lines if line.startswith("# constructor:")).split(":", 1)[1].strip()
    counts = next(line for line in lines if line.startswith("# state_dict entries"))
    n_entries, n_params = (int(v) for v in re.findall(r"(\d+)", counts)[:2])
    entries = []
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        entries.append((key, tuple(int(v) for v in re.findall(r"\d+", shape))))
    return constructor, n_entries, n_params, entries


@pytest.mark.parametrize("key_file", sorted(KEY_FILES))
def test_official_configuration_has_official_names_and_shapes(key_file, shared_path):
    constructor, n_entries, n_params, entries = _read_key_file(shared_path("golden", key_file))
    name, kwargs = parse_constructor(constructor)
    assert name == "AsymmetricCroCo3DStereo"
    assert kwargs == OFFICIAL_CONFIGS[KEY_FILES[key_file]], "OFFICIAL_CONFIGS disagrees with the released constructor"
    with torch.device("meta"):
        model = build_model(name, kwargs)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert len(entries) == n_entries
    assert ours == entries  # same names, shapes and order
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert sum(1 for _ in model.buffers()) == 0
