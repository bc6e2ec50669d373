"""The trainer end to end on tiny models and procedural data: runs, logs, checkpoints, resumes exactly."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from recon3r.cli import main
from recon3r.errors import ConfigError
from recon3r.train.config import TrainConfig
from recon3r.train.schedule import learning_rate_at
from recon3r.train.trainer import Trainer, train

TINY_MODEL = (
    "AsymmetricCroCo3DStereo(enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, "
    "dec_num_heads=2, img_size=(32, 48), head_type='linear', pos_embed='RoPE100')"
)
TRAIN_SET = "8 @ Procedural(scenes=2, views=3, size=64, resolution=(48, 32), split='train', aug_crop=4)"
TEST_SET = "4 @ Procedural(scenes=1, views=2, size=64, resolution=(48, 32), split='test')"


def tiny_config(output_dir: Path, **overrides) -> TrainConfig:
    values = dict(
        model=TINY_MODEL, train_dataset=TRAIN_SET, test_dataset=TEST_SET, epochs=2, batch_size=2, lr=1e-3,
        warmup_epochs=0.5, output_dir=str(output_dir), device="cpu", log_freq=1,
    )
    values.update(overrides)
    return TrainConfig(**values)


def final_weights(output_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(output_dir / "checkpoint-last" / "model.safetensors"))


def test_cli_train_writes_checkpoints_and_metrics(tmp_path):
    out = tmp_path / "run"
    code = main([
        "train", "--model", TINY_MODEL, "--train_dataset", TRAIN_SET, "--test_dataset", TEST_SET,
        "--epochs", "2", "--batch_size", "2", "--lr", "1e-3", "--output_dir", str(out), "--device", "cpu",
        "--log_freq", "1", "--keep_freq", "1",
    ])
    assert code == 0
    for name in ("checkpoint-last", "checkpoint-best", "checkpoint-1", "checkpoint-2"):
        assert (out / name / "model.safetensors").is_file(), name
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0] == "time,split,epoch,step,name,value"
    assert any(",train,1,8,loss," in row for row in rows)
    assert any(row.split(",")[1].startswith('"test:') or "test:" in row for row in rows)
    saved = json.loads((out / "checkpoint-last" / "train_config.json").read_text())
    assert saved["model"] == TINY_MODEL
    # The checkpoint is a normal model folder.
    from recon3r import load_model

    model = load_model(out / "checkpoint-last")
    assert sum(p.numel() for p in model.parameters()) > 0


def test_training_reduces_the_loss(tmp_path):
    config = tiny_config(tmp_path, epochs=6, lr=2e-3, test_dataset="", train_dataset=TRAIN_SET.replace("8 @", "4 @"))
    trainer = Trainer(config, show_progress=False)
    batch = next(iter(trainer.train_loader()))
    with torch.no_grad():
        before = float(trainer.compute_loss(batch, model=trainer.model)[0])
    trainer.fit()
    with torch.no_grad():
        after = float(trainer.compute_loss(batch, model=trainer.model)[0])
    assert after < before - 0.1


def test_stop_and_resume_matches_an_uninterrupted_run(tmp_path):
    """A run stopped after step k (here 3 of 8, mid-epoch, with accumulation) resumes to the same weights."""
    common = dict(accum_iter=2, batch_size=1, epochs=2, test_dataset="")
    train(tiny_config(tmp_path / "full", **common), show_progress=False)
    interrupted = tmp_path / "interrupted"
    summary = train(tiny_config(interrupted, max_steps=3, **common), show_progress=False)
    assert summary["global_step"] == 3
    resumed = train(tiny_config(interrupted, **common), show_progress=False)
    assert resumed["global_step"] == 8
    full, other = final_weights(tmp_path / "full"), final_weights(interrupted)
    assert full.keys() == other.keys()
    for name in full:
        torch.testing.assert_close(other[name], full[name], atol=1e-6, rtol=0, msg=name)


def test_a_half_written_checkpoint_does_not_break_resume(tmp_path):
    out = tmp_path / "run"
    train(tiny_config(out, max_steps=2, test_dataset=""), show_progress=False)
    # Simulate a crash between the two renames of the next save: only the previous copy remains.
    shutil.move(out / "checkpoint-last", out / ".checkpoint-last.old")
    (out / ".checkpoint-last.tmp123").mkdir()
    summary = train(tiny_config(out, test_dataset=""), show_progress=False)
    assert summary["global_step"] == 8


def test_learning_rate_schedule_warms_up_then_decays():
    assert learning_rate_at(0.0, 1.0, 0.1, 2, 10) == 0.0
    assert learning_rate_at(1.0, 1.0, 0.1, 2, 10) == pytest.approx(0.5)
    assert learning_rate_at(2.0, 1.0, 0.1, 2, 10) == pytest.approx(1.0)
    assert learning_rate_at(6.0, 1.0, 0.1, 2, 10) == pytest.approx(0.55)
    assert learning_rate_at(10.0, 1.0, 0.1, 2, 10) == pytest.approx(0.1)


def test_bad_configs_are_refused_with_the_flag_named(tmp_path):
    with pytest.raises(ConfigError, match="--model is required"):
        Trainer(TrainConfig(train_dataset=TRAIN_SET, output_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="unknown name 'Nope'"):
        Trainer(tiny_config(tmp_path, train_dataset="Nope()"))
    with pytest.raises(ConfigError, match="attribute access"):
        Trainer(tiny_config(tmp_path, train_criterion="ConfLoss(Regr3D(L21.__class__))"))
    with pytest.raises(ConfigError, match="too few for one step"):
        Trainer(tiny_config(tmp_path, train_dataset=TRAIN_SET.replace("8 @", "1 @"), batch_size=2))


def test_clip_grad_bounds_the_gradient_norm_at_each_step(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, clip_grad=1e-3, test_dataset=""), show_progress=False)
    norms = []
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step
    trainer.backward_micro_batch(next(iter(trainer.train_loader())), sync=True)
    unclipped = float(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(p.grad) for p in trainer.model.parameters() if p.grad is not None])))
    trainer.optimizer_step()
    assert unclipped > 1e-2 and norms == [pytest.approx(1e-3, rel=1e-3)]
    with pytest.raises(ConfigError, match="--clip_grad must be >= 0"):
        tiny_config(tmp_path, clip_grad=-1.0).validate()


def test_freeze_encoder_keeps_encoder_weights(tmp_path):
    out = tmp_path / "run"
    config = tiny_config(out, freeze_encoder=True, test_dataset="", max_steps=2)
    trainer = Trainer(config, show_progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    after = trainer.model.state_dict()
    assert torch.equal(before["enc_blocks.0.attn.qkv.weight"], after["enc_blocks.0.attn.qkv.weight"])
    assert not torch.equal(before["dec_blocks.0.attn.qkv.weight"], after["dec_blocks.0.attn.qkv.weight"])


def test_pretrained_croco_checkpoint_initialises_both_decoders(tmp_path):
    from recon3r.models.registry import build_model
    from recon3r.train.trainer import build_model as build_from_spec

    source = build_from_spec(TINY_MODEL)
    croco = {k: v for k, v in source.state_dict().items() if not k.startswith(("dec_blocks2", "downstream_head"))}
    croco["prediction_head.weight"] = torch.zeros(3)  # CroCo's own head: not used by the pair model
    path = tmp_path / "croco.pth"
    torch.save({"model": croco}, path)
    from recon3r.train.pretrained import load_pretrained

    target = build_model("AsymmetricCroCo3DStereo", source.config)
    report = load_pretrained(target, path)
    assert report["unexpected"] == ["prediction_head.weight"]
    assert all(k.startswith("downstream_head") for k in report["missing"])
    torch.testing.assert_close(target.state_dict()["dec_blocks2.1.mlp.fc1.weight"], source.state_dict()["dec_blocks.1.mlp.fc1.weight"])
