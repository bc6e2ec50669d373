"""`recon3r train` with the multimodal pair model: --duster_path / --exif_path initialisation,
captions from procedural data, accumulation, exact resume, text-encoder learning rates and DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from recon3r.cli import main
from recon3r.errors import ConfigError
from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo, load_model, save_model
from recon3r.train.config import TrainConfig
from recon3r.train.trainer import Trainer, train

PAIR_ARGS = (
    "enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2, "
    "img_size=(32, 48), head_type='linear', pos_embed='RoPE100'"
)
TINY_TEXT = "text_encoder='tiny', text_encoder_kwargs={'hidden_size': 16, 'num_layers': 1, 'num_heads': 2, 'intermediate_size': 32}"
SMALL_DISTILBERT = {"dim": 32, "hidden_dim": 64, "n_layers": 2, "n_heads": 2, "max_position_embeddings": 64}
EXIF_TEXT = f"text_encoder='exif', text_encoder_kwargs={{'distilbert_config': {SMALL_DISTILBERT!r}}}"
# Procedural captions carry the true focal length; some are perturbed and some dropped.
TRAIN_SET = ("8 @ Procedural(scenes=2, views=3, size=64, resolution=(48, 32), split='train', "
             "caption_noise=0.1, caption_dropout=0.25)")


def text_model_spec(text: str = TINY_TEXT, **extra: object) -> str:
    args = ", ".join([PAIR_ARGS, text, *(f"{k}={v!r}" for k, v in extra.items())])
    return f"AsymmetricCroCo3DStereoAndText({args})"


def tiny_config(output_dir: Path, **overrides) -> TrainConfig:
    values = dict(model=text_model_spec(caption_dropout=0.5), train_dataset=TRAIN_SET, epochs=1, batch_size=2, lr=1e-3,
                  output_dir=str(output_dir), device="cpu", log_freq=1)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def duster_folder(tmp_path_factory) -> Path:
    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("duster") / "tiny"
    save_model(AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_linear"]), folder)
    return folder


@pytest.fixture(scope="module")
def exif_file(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A synthetic Exif-as-Language checkpoint: the wrapper layout around a small DistilBERT."""
    from transformers import DistilBertConfig, DistilBertModel

    torch.manual_seed(8)
    tower = DistilBertModel(DistilBertConfig(**SMALL_DISTILBERT)).state_dict()
    state = {f"model.transformer.{k}": v for k, v in tower.items()}
    state.update({"model.visual.fc.weight": torch.randn(8, 32), "model.logit_scale": torch.tensor(2.0)})
    path = tmp_path_factory.mktemp("exif") / "exif.pth"
    torch.save({"model": state}, path)
    return path, tower


def test_cli_trains_from_duster_and_exif_weights(tmp_path, duster_folder, exif_file, capsys):
    exif_path, tower = exif_file
    out = tmp_path / "run"
    code = main([
        "train", "--model", text_model_spec(EXIF_TEXT), "--train_dataset", TRAIN_SET, "--duster_path", str(duster_folder),
        "--exif_path", str(exif_path), "--max_steps", "2", "--accum_iter", "2", "--batch_size", "1", "--lr", "1e-3",
        "--output_dir", str(out), "--device", "cpu", "--log_freq", "1",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    new = printed.split("from --duster_path/--exif_path; new: ")[1].splitlines()[0]
    assert "caption_gates (1)" in new and "caption_proj (4)" in new and "text_encoder" not in new
    model = load_model(out / "checkpoint-last")
    assert type(model).__name__ == "AsymmetricCroCo3DStereoAndText"
    weights = load_file(str(out / "checkpoint-last" / "model.safetensors"))
    # The frozen text tower is the Exif-as-Language one, saved with the model.
    for name, value in tower.items():
        assert torch.equal(weights[f"text_encoder.backbone.{name}"], value), name
    # Training started from DUSt3R's weights and reached the zero-initialised fusion gates.
    start = load_file(str(duster_folder / "model.safetensors"))
    assert weights["decoder_embed.weight"].shape == start["decoder_embed.weight"].shape
    assert 0 < float((weights["decoder_embed.weight"] - start["decoder_embed.weight"]).abs().max()) < 0.1
    assert weights["caption_gates"].abs().max() > 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert sum(",train,0," in row and ",loss," in row for row in rows) == 2


def test_stop_and_resume_with_caption_dropout_matches_an_uninterrupted_run(tmp_path):
    common = dict(accum_iter=2, batch_size=1, max_steps=0, epochs=1)
    train(tiny_config(tmp_path / "full", **common), show_progress=False)
    interrupted = tmp_path / "interrupted"
    assert train(tiny_config(interrupted, **{**common, "max_steps": 2}), show_progress=False)["global_step"] == 2
    assert train(tiny_config(interrupted, **common), show_progress=False)["global_step"] == 4
    full = load_file(str(tmp_path / "full" / "checkpoint-last" / "model.safetensors"))
    other = load_file(str(interrupted / "checkpoint-last" / "model.safetensors"))
    assert full.keys() == other.keys()
    for name in full:
        torch.testing.assert_close(other[name], full[name], atol=1e-6, rtol=0, msg=name)


def test_fine_tuned_text_encoder_trains_at_its_learning_rate_scale(tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "tuned", model=text_model_spec(freeze_text=False, text_lr_scale=0.25)),
                      show_progress=False)
    text_ids = {id(p) for p in trainer.model.text_encoder.parameters()}
    scales = {group["lr_scale"] for group in trainer.optimizer.param_groups if any(id(p) in text_ids for p in group["params"])}
    assert scales == {0.25}
    before = {n: p.detach().clone() for n, p in trainer.model.text_encoder.named_parameters()}
    trainer.config.max_steps = 1
    trainer.fit()
    changed = [n for n, p in trainer.model.text_encoder.named_parameters() if not torch.equal(p, before[n])]
    assert changed

    frozen = Trainer(tiny_config(tmp_path / "frozen"), show_progress=False)
    optimised = {id(p) for group in frozen.optimizer.param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in frozen.model.text_encoder.parameters()}


def test_duster_path_needs_a_model_with_parts_to_load(tmp_path, duster_folder):
    config = tiny_config(tmp_path, model=f"AsymmetricCroCo3DStereo({PAIR_ARGS})", duster_path=str(duster_folder))
    with pytest.raises(ConfigError, match="--duster_path/--exif_path: AsymmetricCroCo3DStereo"):
        Trainer(config, show_progress=False)


@pytest.mark.slow
def test_torchrun_trains_the_multimodal_model_with_two_processes(tmp_path, duster_folder):
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "recon3r", "train",
        "--model", text_model_spec(caption_dropout=0.5), "--train_dataset", TRAIN_SET.replace("8 @", "4 @"),
        "--duster_path", str(duster_folder), "--batch_size", "1", "--epochs", "1", "--lr", "1e-3",
        "--output_dir", str(out), "--device", "cpu", "--log_freq", "1",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    weights = load_file(str(out / "checkpoint-last" / "model.safetensors"))
    assert weights["caption_gates"].abs().max() > 0


def test_held_out_evaluation_logs_gates_and_focal_error_with_true_wrong_and_missing_captions(tmp_path):
    import csv

    test_set = TRAIN_SET.replace("split='train', caption_noise=0.1, caption_dropout=0.25", "split='test'").replace("8 @", "4 @")
    config = tiny_config(tmp_path / "run", test_dataset=test_set, max_steps=0,
                         model=text_model_spec(caption_focal_weight=1.0))
    train(config, show_progress=False)
    with (tmp_path / "run" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    test_values = {row["name"]: float(row["value"]) for row in rows if row["split"].startswith("test")}
    train_names = {row["name"] for row in rows if row["split"] == "train"}
    for name in ("focal_err", "focal_err_wrong_caption", "focal_err_no_caption", "caption_focal_err",
                 "caption_gate.view1.layer0.self", "caption_gate.view2.layer1.cross"):
        assert name in test_values, name
    assert "caption_focal_loss" in train_names
    # The gates are tanh of parameters the run moved away from zero.
    gates = [v for k, v in test_values.items() if k.startswith("caption_gate.")]
    assert len(gates) == 2 * 2 * 2 and all(-1 < g < 1 for g in gates) and any(g != 0 for g in gates)
    assert all(v >= 0 for k, v in test_values.items() if k.startswith("focal_err"))


def test_image_only_pair_model_logs_its_focal_error_but_no_caption_columns(tmp_path):
    import csv

    test_set = TRAIN_SET.replace("split='train', caption_noise=0.1, caption_dropout=0.25", "split='test'").replace("8 @", "4 @")
    config = tiny_config(tmp_path / "run", test_dataset=test_set, max_steps=0,
                         model=f"AsymmetricCroCo3DStereo({PAIR_ARGS})")
    train(config, show_progress=False)
    with (tmp_path / "run" / "metrics.csv").open() as handle:
        names = {row["name"] for row in csv.DictReader(handle) if row["split"].startswith("test")}
    assert "focal_err" in names
    assert not {n for n in names if "caption" in n}
