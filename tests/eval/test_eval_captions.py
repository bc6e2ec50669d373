"""`recon3r eval --captions`: learned methods pass a captions file to the reconstruct pipeline, as
`recon3r reconstruct --captions` does; a broken file is refused before anything is evaluated."""

from __future__ import annotations

import json

import pytest
import torch

from recon3r.cli import main
from recon3r.models import save_model
from recon3r.models.dust3r_text import AsymmetricCroCo3DStereoAndText

TINY_TEXT_224 = {**AsymmetricCroCo3DStereoAndText.tiny_config, "img_size": (224, 224), "landscape_only": False}


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(AsymmetricCroCo3DStereoAndText(**TINY_TEXT_224), tmp_path_factory.mktemp("text") / "multimodal")


def test_captions_file_reaches_the_multimodal_model(text_checkpoint, tmp_path, monkeypatch, capsys):
    seen: list[str] = []
    forward = AsymmetricCroCo3DStereoAndText.forward

    def recording_forward(self, view1, view2):
        seen.extend(view1["caption"] + view2["caption"])
        return forward(self, view1, view2)

    monkeypatch.setattr(AsymmetricCroCo3DStereoAndText, "forward", recording_forward)
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"000.png": "FocalLengthIn35mmFilm: 50", "001.png": None}))
    argv = ["eval", "relpose", "--benchmark", "procedural:1:views=2,size=64", "--method", str(text_checkpoint),
            "--niter", "0", "--device", "cpu", "--cache", str(tmp_path / "cache"), "--quiet"]
    assert main([*argv, "--captions", str(captions)]) in (0, 2)  # random weights may not register: a score either way
    assert set(seen) == {"FocalLengthIn35mmFilm: 50", ""}
    seen.clear()
    assert main(argv) in (0, 2)
    assert set(seen) == {""}
    capsys.readouterr()


def test_a_broken_captions_file_is_a_one_line_error(text_checkpoint, tmp_path, capsys):
    bad = tmp_path / "captions.json"
    bad.write_text('["not", "an", "object"]')
    code = main(["eval", "relpose", "--benchmark", "procedural:1:views=2,size=64", "--method", str(text_checkpoint),
                 "--captions", str(bad), "--quiet"])
    assert code == 2
    assert "captions file" in capsys.readouterr().err
