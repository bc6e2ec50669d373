"""`recon3r convert`: official .pth → model.safetensors + config.json, through the real CLI entry point."""

from __future__ import annotations

import argparse
import json
import os

import pytest
import torch

from recon3r.cli import main
from recon3r.models import AsymmetricCroCo3DStereo, load_model
from recon3r.utils.spec import format_spec

TINY = dict(
    enc_embed_dim=32,
    enc_depth=1,
    enc_num_heads=2,
    dec_embed_dim=16,
    dec_depth=1,
    dec_num_heads=2,
    img_size=(32, 32),
    head_type="linear",
    patch_embed_cls="ManyAR_PatchEmbed",
    pos_embed="RoPE100",
)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = AsymmetricCroCo3DStereo(**TINY)
    path = tmp_path / "ckpt.pth"
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(model=format_spec("AsymmetricCroCo3DStereo", TINY))}, path)
    return model, path


def test_convert_writes_a_loadable_folder(checkpoint, tmp_path, capsys):
    model, path = checkpoint
    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["class"] == "AsymmetricCroCo3DStereo"
    assert config["kwargs"]["landscape_only"] is False and config["kwargs"]["patch_embed_cls"] == "PatchEmbedDust3R"
    loaded = load_model(out)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)


def test_convert_keep_training_layout_and_refuses_to_overwrite(checkpoint, tmp_path, capsys):
    _, path = checkpoint
    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out), "--keep-training-layout"]) == 0
    assert json.loads((out / "config.json").read_text())["kwargs"]["patch_embed_cls"] == "ManyAR_PatchEmbed"
    assert main(["convert", str(path), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", str(path), str(out), "--force"]) == 0


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_convert_refuses_a_malicious_pickle(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "args": argparse.Namespace(model="AsymmetricCroCo3DStereo()"), "x": _Evil(marker)}, path)
    assert main(["convert", str(path), str(tmp_path / "out")]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out" / "model.safetensors").exists()


def test_convert_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    text = capsys.readouterr().out
    assert "--keep-training-layout" in text and "--overwrite" in text and "OUT_DIR".lower() in text.lower()
