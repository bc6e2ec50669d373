"""A checkpoint of another system says which command runs it; bad config.json kwargs are one clear error."""

from __future__ import annotations

import json

import pytest
import torch

from recon3r.errors import CheckpointError
from recon3r.models import build_model, load_model, save_model

TINY = dict(enc_embed_dim=32, enc_depth=1, enc_num_heads=2, dec_embed_dim=32, dec_depth=1, dec_num_heads=2,
            img_size=(224, 224), head_type="linear", pos_embed="RoPE100", landscape_only=False)


@pytest.fixture(scope="module")
def pair_folder(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(build_model("AsymmetricCroCo3DStereo", TINY), tmp_path_factory.mktemp("pair"))


@pytest.fixture(scope="module")
def depth_folder(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("Depth3DModel", dict(point_widths=(8,), head_widths=(8,)))
    return save_model(model, tmp_path_factory.mktemp("depth3d"))


def test_a_depth_model_given_for_reconstruction_names_its_command(depth_folder):
    with pytest.raises(CheckpointError, match=r"this is a depth-to-3D model; use `recon3r depth-to-3d`"):
        load_model(depth_folder, task="pair")


def test_a_pair_model_given_for_depth_to_3d_names_its_command(pair_folder):
    with pytest.raises(CheckpointError, match=r"not the Depth3DModel model needed here.*use `recon3r reconstruct`"):
        load_model(pair_folder, expect="Depth3DModel")
    assert load_model(pair_folder, task="pair") is not None


def _with_kwargs(folder, tmp_path, **changes):
    out = tmp_path / "changed"
    out.mkdir()
    (out / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["kwargs"].update(changes)
    (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"img_size": "x"}, r"img_size must be a number, got 'x'"),
        ({"mlp_ratio": "inf"}, r"mlp_ratio must be a finite number, got inf"),
        ({"enc_depth": True}, r"enc_depth must be a number, got True"),
        ({"enc_depth": 1.5}, r"enc_depth must be a whole number"),
        ({"landscape_only": 0}, r"landscape_only must be true or false"),
        ({"head_type": 3}, r"head_type must be a string"),
        ({"img_size": ["x", 224]}, r"cannot build AsymmetricCroCo3DStereo from its keyword arguments"),
        ({"enc_num_heads": 0}, r"cannot build AsymmetricCroCo3DStereo from its keyword arguments"),
    ],
)
def test_config_kwargs_of_the_wrong_kind_are_one_checkpoint_error(pair_folder, tmp_path, changes, message):
    with pytest.raises(CheckpointError, match=message) as caught:
        load_model(_with_kwargs(pair_folder, tmp_path, **changes))
    assert "config.json" in str(caught.value) or "changed" in str(caught.value)
