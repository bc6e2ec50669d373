"""The shipped example model: a small safetensors checkpoint that loads without pickles and has learned.

Its training record is examples/example_model_training.md; these checks keep the file within the
size budget and catch a broken or untrained replacement on the bundled example scene.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import recon3r
from recon3r.assets import example_model_path
from recon3r.data.multiview import MultiView
from recon3r.eval.pairs import constant_plane_predictor, evaluate_pairs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SCENE = ROOT / "examples" / "procedural_scene"


@pytest.fixture(scope="module")
def example_model():
    return recon3r.load_model(example_model_path())


def test_shipped_files_are_safetensors_within_the_size_budget():
    folder = example_model_path()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["config.json", "model.safetensors"]
    assert (folder / "model.safetensors").stat().st_size <= 25 * 2**20
    config = json.loads((folder / "config.json").read_text())
    assert config["class"] == "AsymmetricCroCo3DStereo"
    assert tuple(config["kwargs"]["img_size"]) == (224, 224)


def test_loads_as_a_small_float32_model(example_model):
    params = sum(p.numel() for p in example_model.parameters())
    assert 1e6 < params < 1e7
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in example_model.parameters())


def test_beats_a_constant_plane_on_the_bundled_scene(example_model):
    dataset = MultiView(str(EXAMPLE_SCENE), split="example", resolution=(224, 224), seed=0)
    dataset = torch.utils.data.Subset(dataset, range(min(6, len(dataset))))
    with torch.no_grad():
        ours = evaluate_pairs(example_model, dataset, batch_size=3)
        plane = evaluate_pairs(constant_plane_predictor(), dataset, batch_size=3)
    assert ours["regr3d_ssi"] < 0.7 * plane["regr3d_ssi"], (ours, plane)
    assert ours["abs_rel"] < plane["abs_rel"], (ours, plane)
