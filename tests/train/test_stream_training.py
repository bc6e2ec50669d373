"""Point3R through the shared trainer: sequence datasets, `--pretrained` from DUSt3R, stage 1 → stage 3 freezing."""

from __future__ import annotations

import argparse

import pytest
import torch
from safetensors.torch import load_file

from recon3r.cli import main
from recon3r.data import MultiView
from recon3r.models import save_model
from recon3r.models.point3r import Point3R
from recon3r.models.registry import build_model
from recon3r.train.config import TrainConfig
from recon3r.train.pretrained import format_pretrained_report, load_pretrained
from recon3r.train.trainer import Trainer

inf = float("inf")
TINY_DIMS = dict(enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=16, dec_depth=4, dec_num_heads=1)
TINY_POINT3R = dict(Point3R.tiny_config, **TINY_DIMS)
TINY_SPEC = "Point3R(" + ", ".join(f"{k}={v!r}" for k, v in TINY_POINT3R.items()) + ")"
DUST3R_DPT = dict(TINY_DIMS, head_type="dpt", output_mode="pts3d", pos_embed="RoPE100", img_size=(64, 64),
                  patch_embed_cls="ManyAR_PatchEmbed", depth_mode=("exp", -inf, inf), conf_mode=("exp", 1, inf),
                  dpt_feature_dim=16, dpt_layer_dims=(8, 16, 16, 32))
SEQUENCES = "Procedural(scenes=2, views=8, kind='sequence', size=48, resolution=(48, 32), num_views={k})"
#: The modules a DUSt3R checkpoint cannot initialise (Point3R's own parts).
NEW_MODULES = ("pose_token", "pose_retriever.", "decoder_embed_memory.", "dec_norm_memory.", "value_encoder.",
               "value_norm.", "value_out.", "memory_attn_head.", "downstream_head.final_transform.",
               "downstream_head.pose_head.")
ENCODER = ("patch_embed.", "enc_blocks.", "enc_norm.")


@pytest.fixture(scope="module")
def dust3r(tmp_path_factory):
    """A tiny DUSt3R with a DPT head, as a DUSt3R `.pth` and as a recon3r safetensors folder."""
    torch.manual_seed(7)
    model = build_model("AsymmetricCroCo3DStereo", DUST3R_DPT)
    folder = tmp_path_factory.mktemp("dust3r")
    model_string = "AsymmetricCroCo3DStereo(" + ", ".join(f"{k}={v!r}" for k, v in DUST3R_DPT.items()) + ")"
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(model=model_string), "epoch": 3},
               folder / "DUSt3R_tiny_512_dpt.pth")
    save_model(model, folder / "safetensors")
    return model.state_dict(), folder


def _point3r_name(name: str) -> str:
    for source, target in (("dec_blocks2.", "dec_blocks_memory."), ("downstream_head1.dpt.", "downstream_head.dpt_self."),
                           ("downstream_head2.dpt.", "downstream_head.dpt_cross.")):
        if name.startswith(source):
            return target + name[len(source):]
    return name


@pytest.mark.parametrize("layout", ["DUSt3R_tiny_512_dpt.pth", "safetensors"])
def test_dust3r_dpt_checkpoint_initialises_encoder_decoders_and_heads(dust3r, layout):
    weights, folder = dust3r
    torch.manual_seed(0)
    target = build_model("Point3R", TINY_POINT3R)
    report = load_pretrained(target, folder / layout)
    own = target.state_dict()
    for name, value in weights.items():
        if name == "mask_token":
            continue
        assert torch.equal(own[_point3r_name(name)], value), name
    for name in ("proj.weight", "proj.bias"):  # the value encoder's patch embedding starts as the image one
        assert torch.equal(own[f"pts_patch_embed.{name}"], weights[f"patch_embed.{name}"])
    assert report["unexpected"] == ["mask_token"]
    assert report["missing"] and all(k.startswith(NEW_MODULES) for k in report["missing"])
    assert {k for k in own if k.startswith(NEW_MODULES)} == set(report["missing"])
    assert set(report["loaded"]) | set(report["missing"]) == set(own)
    text = format_pretrained_report(folder / layout, report)
    assert "filled from another name (dec_blocks_memory (" in text and "downstream_head.dpt_self (" in text
    assert "new, left at their initial values" in text and "pose_retriever.read_blocks (" in text
    assert "ignored (unexpected_keys, 1): [mask_token]" in text


def test_a_point3r_state_dict_passes_the_dust3r_mapping_unchanged():
    model = build_model("Point3R", TINY_POINT3R)
    state = model.state_dict()
    assert model.filter_state_dict(state).keys() == state.keys()


def test_stage1_from_dust3r_then_stage3_with_the_encoder_frozen(dust3r, tmp_path, capsys):
    _, folder = dust3r
    stage1, stage3 = tmp_path / "stage1", tmp_path / "stage3"
    common = ["--model", TINY_SPEC, "--lr", "1e-3", "--epochs", "1", "--device", "cpu", "--clip_grad", "1.0"]
    assert main(["train", *common, "--pretrained", str(folder / "DUSt3R_tiny_512_dpt.pth"), "--batch_size", "2",
                 "--train_dataset", "4 @ " + SEQUENCES.format(k=5), "--output_dir", str(stage1)]) == 0
    assert "pretrained " in capsys.readouterr().out
    assert main(["train", *common, "--pretrained", str(stage1 / "checkpoint-last"), "--freeze_encoder",
                 "--batch_size", "1", "--train_dataset", "2 @ " + SEQUENCES.format(k=8),
                 "--output_dir", str(stage3)]) == 0
    before = load_file(str(stage1 / "checkpoint-last" / "model.safetensors"))
    after = load_file(str(stage3 / "checkpoint-last" / "model.safetensors"))
    encoder = [k for k in before if k.startswith(ENCODER)]
    assert len(encoder) > 10 and all(torch.equal(before[k], after[k]) for k in encoder)
    for module in ("dec_blocks.0.", "dec_blocks_memory.0.", "downstream_head.dpt_self.", "downstream_head.dpt_cross.",
                   "downstream_head.pose_head.", "pose_retriever.read_blocks.", "value_encoder."):
        names = [k for k in before if k.startswith(module)]
        assert names and any(not torch.equal(before[k], after[k]) for k in names), module


def test_issue11_example_trains_on_a_make_procedural_sequence_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "make-procedural", "--out", "runs/p", "--scenes", "2", "--views", "6", "--size", "64",
                 "--kind", "sequence"]) == 0
    windows = MultiView(ROOT="runs/p", num_views=4, resolution=64)
    assert len(windows) == 2 * 3 and [v["instance"] for v in windows[1]] == ["001", "002", "003", "004"]
    code = main(["train", "--model", TINY_SPEC.replace("img_size=(224, 224)", "img_size=(64, 64)"),
                 "--train_dataset", "8 @ Procedural(ROOT='runs/p', split='train', resolution=64, num_views=4)",
                 "--test_dataset", "MultiView(ROOT='runs/p', resolution=64, num_views=6)",
                 "--epochs", "1", "--batch_size", "2", "--lr", "1e-3", "--device", "cpu", "--output_dir", "runs/stream"])
    assert code == 0
    log = (tmp_path / "runs/stream/metrics.csv").read_text()
    for name in ("conf_loss_self", "pose_loss", "pts3d_error", "depth_abs_rel", "rotation_error_deg"):
        assert f",{name}," in log, name
    assert (tmp_path / "runs/stream/checkpoint-best/model.safetensors").is_file()


def test_training_reduces_the_stream_loss(tmp_path):
    config = TrainConfig(model=TINY_SPEC, train_dataset="2 @ " + SEQUENCES.format(k=3), epochs=8, batch_size=2,
                         lr=3e-3, output_dir=str(tmp_path), device="cpu", log_freq=1)
    trainer = Trainer(config, show_progress=False)
    batch = next(iter(trainer.train_loader()))
    with torch.no_grad():
        before = float(trainer.compute_loss(batch, model=trainer.model)[0])
    trainer.fit()
    with torch.no_grad():
        after = float(trainer.compute_loss(batch, model=trainer.model)[0])
    assert after < before - 0.3, (before, after)


def test_mixed_precision_training_runs_through_the_float16_encoder_rope(tmp_path):
    """--amp (bfloat16 autocast on a CPU) with the encoder's float16 RoPE tables of the official model."""
    config = TrainConfig(model=TINY_SPEC, train_dataset="2 @ " + SEQUENCES.format(k=3), epochs=1, batch_size=2,
                         lr=1e-3, output_dir=str(tmp_path), device="cpu", amp=True, clip_grad=1.0)
    summary = Trainer(config, show_progress=False).fit()
    assert summary["global_step"] == 1 and all(v == v for v in summary["train"].values())  # finite, not NaN


def test_dust3r_512_dpt_maps_onto_the_official_point3r_shape_for_shape():
    """At the official sizes (built on `meta`): every DUSt3R tensor but `mask_token` lands on a Point3R tensor."""
    from recon3r.models.checkpoint import parse_constructor
    from recon3r.models.point3r import OFFICIAL_CONFIGS

    dust3r_string = ("AsymmetricCroCo3DStereo(pos_embed='RoPE100', patch_embed_cls='ManyAR_PatchEmbed', "
                     "img_size=(512, 512), head_type='dpt', output_mode='pts3d', depth_mode=('exp', -inf, inf), "
                     "conf_mode=('exp', 1, inf), enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, "
                     "dec_embed_dim=768, dec_depth=12, dec_num_heads=12)")
    with torch.device("meta"):
        dust3r = build_model(*parse_constructor(dust3r_string)).state_dict()
        point3r = build_model("Point3R", OFFICIAL_CONFIGS["point3r_224_dpt"])
    own = point3r.state_dict()
    mapped = point3r.filter_state_dict(dust3r)
    assert set(mapped) - set(own) == {"mask_token"}
    assert all(mapped[k].shape == own[k].shape for k in mapped if k != "mask_token")
    new = set(own) - set(mapped)
    assert new and all(k.startswith(NEW_MODULES) for k in new)
