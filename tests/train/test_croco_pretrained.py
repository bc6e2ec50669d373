"""`--pretrained` from a CroCo v2 checkpoint in the released layout (`model`, `croco_kwargs`, `args`)."""

from __future__ import annotations

import pytest
import torch

from recon3r.cli import main
from recon3r.errors import CheckpointError
from recon3r.models.registry import build_model
from recon3r.train.pretrained import format_pretrained_report, load_pretrained

CROCO_KWARGS = dict(enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2,
                    pos_embed="RoPE100", img_size=(224, 224))
PAIR = dict(CROCO_KWARGS, head_type="linear", img_size=(32, 48))
PAIR_SPEC = ("AsymmetricCroCo3DStereo(pos_embed='RoPE100', img_size=(32, 48), head_type='linear', output_mode='pts3d', "
             "depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), enc_embed_dim=32, enc_depth=2, "
             "enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2)")


@pytest.fixture(scope="module")
def croco(tmp_path_factory, croco_release):
    path = tmp_path_factory.mktemp("croco") / "CroCo_V2_ViTLarge_BaseDecoder.pth"
    return croco_release(path, CROCO_KWARGS), path


def test_release_layout_initialises_encoder_and_both_decoders(croco):
    source, path = croco
    torch.manual_seed(0)
    target = build_model("AsymmetricCroCo3DStereo", PAIR)
    report = load_pretrained(target, path)
    weights, own = source.state_dict(), target.state_dict()
    for name, value in weights.items():
        if not name.startswith("prediction_head"):
            assert torch.equal(own[name], value), name
            if name.startswith("dec_blocks."):
                assert torch.equal(own["dec_blocks2." + name[len("dec_blocks."):]], value), name
    assert report["source"] == "CroCo v2 release" and report["croco"]["enc_embed_dim"] == 32
    assert report["unexpected"] == ["prediction_head.bias", "prediction_head.weight"]
    assert report["missing"] and all(k.startswith(("downstream_head1.", "downstream_head2.")) for k in report["missing"])
    assert report["copied"] == sorted(k for k in own if k.startswith("dec_blocks2."))
    assert set(report["loaded"]) == set(own) - set(report["missing"])
    text = format_pretrained_report(path, report)
    assert "CroCo v2 release: CroCoNet(img_size=(224, 224)" in text
    assert f"loaded {len(report['loaded'])} tensors, of which {len(report['copied'])} filled from another name" in text
    assert "new, left at their initial values (missing_keys, " in text
    assert "ignored (unexpected_keys, 2): [prediction_head.bias, prediction_head.weight]" in text


def test_args_only_layout_of_the_pretraining_code(tmp_path, croco_release):
    path = tmp_path / "checkpoint-last.pth"
    croco_release(path, CROCO_KWARGS, with_kwargs=False)
    report = load_pretrained(build_model("AsymmetricCroCo3DStereo", PAIR), path)
    assert report["source"] == "CroCo pre-training checkpoint" and report["croco"]["dec_num_heads"] == 2


def test_a_croco_checkpoint_of_another_architecture_is_refused(tmp_path, croco_release):
    path = tmp_path / "croco.pth"
    croco_release(path, dict(CROCO_KWARGS, enc_num_heads=4))
    with pytest.raises(CheckpointError, match=r"enc_num_heads=4 \(model: 2\); set the same values in --model"):
        load_pretrained(build_model("AsymmetricCroCo3DStereo", PAIR), path)


def test_train_with_pretrained_croco_prints_the_report_and_dust3r_checkpoint_names_resolve(croco, tmp_path, capsys):
    _, path = croco
    out = tmp_path / "demo_224"
    train_set = "4 @ Procedural(scenes=1, views=3, size=64, resolution=(48, 32), split='train')"
    test_set = "2 @ Procedural(scenes=1, views=2, size=64, resolution=(48, 32), split='test')"
    common = ["--train_dataset", train_set, "--test_dataset", test_set, "--model", PAIR_SPEC, "--epochs", "1",
              "--batch_size", "2", "--lr", "1e-3", "--device", "cpu"]
    assert main(["train", *common, "--pretrained", str(path), "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"pretrained {path} (CroCo v2 release" in printed and "unexpected_keys, 2" in printed
    # DUSt3R's next stage names the best checkpoint `checkpoint-best.pth`; recon3r writes a folder of that name.
    stage2 = ["train", *common, "--pretrained", str(out / "checkpoint-best.pth"), "--output_dir", str(tmp_path / "s2")]
    assert main(stage2) == 0
    printed = capsys.readouterr().out
    assert "(recon3r AsymmetricCroCo3DStereo folder)" in printed and "missing_keys, 0" in printed
