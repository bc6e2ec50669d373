"""The three released OpenLRM v1.1 configurations build on `meta` with exactly the official names and shapes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch

from recon3r.models.lrm import OPENLRM_CONFIGS, ModelLRM

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / os.environ.get("RECON3R_GOLDEN_LRM", "../shared/golden_lrm")
PARAMETERS = {"small": 111_390_948, "base": 260_201_972, "large": 452_138_004}


def _read_key_file(size: str):
    path = GOLDEN / f"keys_official_{size}.txt"
    if not path.is_file():
        pytest.skip(f"official key list not found: {path}")
    lines = path.read_text().splitlines()
    kwargs = json.loads(next(line for line in lines if line.startswith("# kwargs:")).split(":", 1)[1])
    entries = []
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        name, shape = line.split(" [", 1)
        entries.append((name, tuple(int(v) for v in re.findall(r"\d+", shape))))
    return kwargs, entries


@pytest.mark.parametrize("size", sorted(PARAMETERS))
def test_released_configuration_has_the_official_names_shapes_and_count(size):
    kwargs, entries = _read_key_file(size)
    assert kwargs == OPENLRM_CONFIGS[size]
    with torch.device("meta"):
        model = ModelLRM(**kwargs)
    ours = [(name, tuple(value.shape)) for name, value in model.state_dict().items()]
    assert ours == entries  # same names, shapes and order
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[size]
    assert all(p.is_meta for p in model.parameters())
    packed = any(name.endswith("cross_attn.in_proj_weight") for name, _ in ours)
    assert packed == (kwargs["encoder_feat_dim"] == kwargs["transformer_dim"])  # MultiheadAttention's rule
