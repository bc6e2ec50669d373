"""Checkpoint loading and saving: official .pth (restricted unpickling), safetensors folders, errors."""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle

import pytest
import torch

import recon3r
from recon3r.errors import CheckpointError
from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo, convert_checkpoint, load_model, save_model
from recon3r.models.checkpoint import parse_constructor
from recon3r.utils.spec import format_spec

TINY_LINEAR = TINY_CONFIGS["tiny_linear"]
TINY_DPT = TINY_CONFIGS["tiny_dpt"]
OFFICIAL_STYLE = dict(TINY_DPT, patch_embed_cls="ManyAR_PatchEmbed")


def write_official(path, model_kwargs, state_dict, **extra):
    """An official-style training checkpoint: {'model': state dict, 'args': Namespace(model=ctor string)}."""
    ctor = format_spec("AsymmetricCroCo3DStereo", model_kwargs)
    torch.save({"model": state_dict, "args": argparse.Namespace(model=ctor, lr=1e-4, epochs=3), "epoch": 3, **extra}, path)
    return path


@pytest.fixture
def official(tmp_path):
    torch.manual_seed(0)
    model = AsymmetricCroCo3DStereo(**OFFICIAL_STYLE).eval()
    return model, write_official(tmp_path / "ckpt.pth", OFFICIAL_STYLE, model.state_dict())


def _run(model, view1, view2):
    with torch.no_grad():
        res1, res2 = model(view1, view2)
    return res1["pts3d"], res1["conf"], res2["pts3d_in_other_view"], res2["conf"]


def test_official_pth_loads_in_inference_layout_with_the_same_outputs(official, random_views):
    source, path = official
    model = load_model(path)
    assert model.config["patch_embed_cls"] == "PatchEmbedDust3R" and model.config["landscape_only"] is False
    assert not model.training
    view1, view2 = random_views(batch=2, height=32, width=64)
    for ours, ref in zip(_run(model, view1, view2), _run(source, view1, view2)):
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)  # two models: not bit-exact
    # Portrait images in their true layout come back as portrait outputs.
    p1, p2 = random_views(batch=1, height=64, width=32)
    assert _run(model, p1, p2)[0].shape == (1, 64, 32, 3)


def test_keep_training_layout_keeps_the_constructor_string_verbatim(official, tmp_path):
    _, path = official
    model = convert_checkpoint(path, tmp_path / "out", keep_training_layout=True)
    assert model.config["patch_embed_cls"] == "ManyAR_PatchEmbed" and model.config["landscape_only"] is True
    assert load_model(tmp_path / "out").config["patch_embed_cls"] == "ManyAR_PatchEmbed"


def test_convert_writes_exactly_what_load_model_builds(official, tmp_path, random_views):
    _, path = official
    convert_checkpoint(path, tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["class"] == "AsymmetricCroCo3DStereo"
    assert config["kwargs"]["depth_mode"] == ["exp", "-inf", "inf"]
    assert config["kwargs"]["patch_embed_cls"] == "PatchEmbedDust3R"
    direct, converted = load_model(path), load_model(tmp_path / "out")
    assert direct.config == converted.config
    view1, view2 = random_views(batch=1, height=32, width=64, seed=3)
    for a, b in zip(_run(direct, view1, view2), _run(converted, view1, view2)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    # Either file of the pair names the folder too.
    assert load_model(tmp_path / "out" / "model.safetensors").config == direct.config
    assert load_model(tmp_path / "out" / "config.json").config == direct.config


def test_save_model_round_trip_writes_dpt_aliases_once(tmp_path, random_views):
    from safetensors import safe_open

    torch.manual_seed(1)
    model = AsymmetricCroCo3DStereo(**TINY_DPT).eval()
    save_model(model, tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    assert not any(".scratch.layer_rn." in n for n in names)
    loaded = recon3r.load_model(tmp_path)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    view1, view2 = random_views(batch=1, height=32, width=64)
    for a, b in zip(_run(model, view1, view2), _run(loaded, view1, view2)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_loaded_weights_sit_in_aligned_memory(tmp_path):
    """safetensors gives 8-byte aligned buffers; kernels on them drift by ulps from the saved model's."""
    torch.manual_seed(1)
    save_model(AsymmetricCroCo3DStereo(**TINY_DPT), tmp_path)
    loaded = recon3r.load_model(tmp_path)
    misaligned = [name for name, t in loaded.state_dict().items() if t.data_ptr() % 64]
    assert misaligned == []


def test_golden_folder_resaves_to_an_equivalent_folder(tmp_path, shared_path):
    case = shared_path("golden", "dpt_landscape")
    model = load_model(case)
    save_model(model, tmp_path)
    again = load_model(tmp_path)
    for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    saved = json.loads((tmp_path / "config.json").read_text())["kwargs"]
    reference = json.loads((case / "config.json").read_text())["kwargs"]
    assert {k: saved[k] for k in reference} == reference


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    model = AsymmetricCroCo3DStereo(**TINY_LINEAR)
    write_official(path, TINY_LINEAR, model.state_dict(), payload=_Evil(marker))
    with pytest.raises(CheckpointError, match="refused"):
        load_model(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps({"model": {}, "args": _Evil(marker)}))
    with pytest.raises(CheckpointError):
        load_model(raw)
    assert not marker.exists()


@pytest.mark.parametrize(
    "ctor",
    [
        "__import__('os').system('touch {marker}')",
        "AsymmetricCroCo3DStereo(img_size=__import__('os').system('touch {marker}'))",
        "AsymmetricCroCo3DStereo(enc_depth=(lambda: 2)())",
    ],
)
def test_constructor_strings_are_parsed_never_evaluated(tmp_path, ctor):
    marker = tmp_path / "pwned"
    path = tmp_path / "ckpt.pth"
    torch.save({"model": {}, "args": argparse.Namespace(model=ctor.format(marker=marker))}, path)
    with pytest.raises(CheckpointError, match="model string"):
        load_model(path)
    assert not marker.exists()


def test_missing_and_unexpected_parameters_are_listed(tmp_path):
    model = AsymmetricCroCo3DStereo(**TINY_LINEAR)
    sd = model.state_dict()
    sd.pop("enc_norm.weight")
    sd["prediction_head.0.weight"] = torch.zeros(1)
    path = write_official(tmp_path / "ckpt.pth", TINY_LINEAR, sd)
    with pytest.raises(CheckpointError, match=r"missing 1 parameter\(s\): enc_norm\.weight.*unexpected 1 parameter\(s\): prediction_head\.0\.weight"):
        load_model(path)


def test_shape_mismatch_is_reported(tmp_path):
    model = AsymmetricCroCo3DStereo(**TINY_LINEAR)
    path = write_official(tmp_path / "ckpt.pth", dict(TINY_LINEAR, dec_embed_dim=16), model.state_dict())
    with pytest.raises(CheckpointError, match="shape mismatch.*decoder_embed.weight"):
        load_model(path)


def test_dataparallel_prefix_is_accepted(tmp_path):
    torch.manual_seed(2)
    model = AsymmetricCroCo3DStereo(**TINY_LINEAR)
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    loaded = load_model(write_official(tmp_path / "ckpt.pth", TINY_LINEAR, sd))
    assert torch.equal(loaded.enc_norm.weight, model.enc_norm.weight)


def test_reference_default_pos_embed_is_not_silently_replaced():
    kwargs = dict(TINY_LINEAR)
    kwargs.pop("pos_embed")
    name, parsed = parse_constructor(format_spec("AsymmetricCroCo3DStereo", kwargs))
    assert parsed["pos_embed"] == "cosine"  # the reference default, which load_model then refuses
    assert parsed["depth_mode"] == ("exp", -math.inf, math.inf)


def test_bad_folders_and_configs_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.pth")
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_model(tmp_path)
    save_model(AsymmetricCroCo3DStereo(**TINY_LINEAR), tmp_path)
    config_path = tmp_path / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({"class": "Unknown", "kwargs": {}}))
    with pytest.raises(CheckpointError, match="unknown model class 'Unknown'"):
        load_model(tmp_path)
    config["kwargs"]["enc_width"] = 3
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="enc_width"):
        load_model(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_model(tmp_path / "model.safetensors")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00\x01junk")
    with pytest.raises(CheckpointError):
        load_model(junk)


def test_checkpoint_without_constructor_string_is_refused(tmp_path):
    path = tmp_path / "weights_only.pth"
    torch.save({"model": AsymmetricCroCo3DStereo(**TINY_LINEAR).state_dict()}, path)
    with pytest.raises(CheckpointError, match="constructor string"):
        load_model(path)


def test_expect_refuses_another_model_class_before_building_it(tmp_path, monkeypatch):
    folder = save_model(AsymmetricCroCo3DStereo(**TINY_LINEAR), tmp_path / "pair")
    assert type(load_model(folder, expect="AsymmetricCroCo3DStereo")) is AsymmetricCroCo3DStereo
    built = []
    monkeypatch.setattr("recon3r.models.checkpoint.build_loaded_model", lambda *args: built.append(args))
    with pytest.raises(CheckpointError, match=r"holds a AsymmetricCroCo3DStereo model, not the Point3R model"):
        load_model(folder, expect="Point3R")
    assert built == []
