"""Released OpenLRM folders (config.json of ModelLRM kwargs + model.safetensors) load and convert unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from recon3r.cli import main
from recon3r.errors import CheckpointError
from recon3r.models.checkpoint import load_model, save_model
from recon3r.models.lrm import ModelLRM

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / os.environ.get("RECON3R_GOLDEN_LRM", "../shared/golden_lrm")
CASE = GOLDEN / "s2_batch_crops_oddspr"


def _write_released_folder(folder: Path, kwargs: dict, state_dict: dict[str, torch.Tensor]) -> Path:
    """The layout huggingface_hub's save_pretrained(config=kwargs) writes: flat kwargs + model.safetensors."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(kwargs, sort_keys=True, indent=2))
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(folder / "model.safetensors"))
    return folder


@pytest.fixture
def lrm_case():
    if not (CASE / "config.json").is_file():
        pytest.skip(f"golden LRM case not found: {CASE}")
    from safetensors.torch import load_file

    config = json.loads((CASE / "config.json").read_text())
    inputs = {k: torch.from_numpy(v) for k, v in np.load(CASE / "inputs.npz").items()}
    return config, load_file(str(CASE / "model.safetensors")), inputs, dict(np.load(CASE / "outputs.npz"))


def _render(model: ModelLRM, t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model(t["image"], t["source_camera"], t["render_cameras"], t["render_anchors"], t["render_resolutions"],
                     t["render_bg_colors"], int(t["render_region_size"]), stratified_noise=t["stratified_noise"],
                     importance_noise=t["importance_noise"])


def test_released_layout_from_golden_weights_loads_and_reproduces_the_reference(lrm_case, tmp_path):
    config, state_dict, inputs, outputs = lrm_case
    folder = _write_released_folder(tmp_path / "openlrm-golden", {**config["kwargs"], "encoder_arch": config["encoder_arch"]},
                                    state_dict)
    model = load_model(folder, expect="ModelLRM")
    assert isinstance(model, ModelLRM) and not model.training
    out = _render(model, inputs)
    for name in ("planes", "images_rgb", "images_depth", "images_weight"):
        assert np.abs(out[name].numpy() - outputs[name]).max() <= 1e-4, name
    # the golden case folder itself ({"class", "kwargs", "encoder_arch", "meta"}) loads too
    assert load_model(CASE).config == model.config


def test_convert_turns_a_released_folder_into_recon3r_layout(lrm_case, tmp_path, capsys):
    config, state_dict, _, _ = lrm_case
    folder = _write_released_folder(tmp_path / "released", {**config["kwargs"], "encoder_arch": config["encoder_arch"]},
                                    state_dict)
    out = tmp_path / "converted"
    assert main(["convert", str(folder), str(out)]) == 0
    assert "ModelLRM" in capsys.readouterr().out
    converted = json.loads((out / "config.json").read_text())
    assert converted["class"] == "ModelLRM" and converted["kwargs"]["encoder_arch"] == config["encoder_arch"]
    loaded = load_model(out)
    for name, value in state_dict.items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_released_layout_of_a_tiny_model_round_trips_including_pickled_weights(tmp_path):
    torch.manual_seed(0)
    model = ModelLRM(**ModelLRM.tiny_config).eval()
    flat = _write_released_folder(tmp_path / "flat", dict(model.config), model.state_dict())
    loaded = load_model(flat)
    assert loaded.config == model.config
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((flat / "config.json").read_text())
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    assert torch.equal(load_model(pickled).pos_embed, model.pos_embed)
    saved = save_model(model, tmp_path / "own")
    assert json.loads((saved / "config.json").read_text())["class"] == "ModelLRM"


def test_released_layout_errors_name_the_file_and_key(tmp_path):
    torch.manual_seed(0)
    model = ModelLRM(**ModelLRM.tiny_config)
    folder = _write_released_folder(tmp_path / "bad", {**model.config, "transformer_depth": 3}, model.state_dict())
    with pytest.raises(CheckpointError, match="transformer_depth"):
        load_model(folder)
    other = _write_released_folder(tmp_path / "unknown", {"hidden_size": 3}, {"w": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="config.json.*ModelLRM"):
        load_model(other)
    with pytest.raises(CheckpointError, match="not the Point3R"):
        load_model(_write_released_folder(tmp_path / "lrm", dict(model.config), model.state_dict()), expect="Point3R")
