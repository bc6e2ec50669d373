"""The sim-to-real training recipe (examples/train_simreal_model.sh) and its model steps (examples/grow_model.py)."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from recon3r.models import build_model, load_model, save_model

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "train_simreal_model.sh"


def _grow_module():
    spec = importlib.util.spec_from_file_location("grow_model", ROOT / "examples" / "grow_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _views(size: int = 32):
    torch.manual_seed(1)
    return [{"img": torch.randn(2, 3, size, size), "true_shape": torch.tensor([[size, size]] * 2),
             "idx": [0, 1], "instance": ["a", "b"]} for _ in range(2)]


def _tiny(tmp_path: Path) -> Path:
    from recon3r.models.dust3r import AsymmetricCroCo3DStereo

    torch.manual_seed(0)
    model = build_model("AsymmetricCroCo3DStereo", {**AsymmetricCroCo3DStereo.tiny_config, "head_type": "linear"})
    for parameter in model.parameters():  # trained-looking weights, not an initialisation
        parameter.data += 0.05 * torch.randn_like(parameter)
    return save_model(model, tmp_path / "trained")


def test_a_grown_model_computes_what_the_trained_one_did(tmp_path):
    grow_model = _grow_module()
    source = _tiny(tmp_path)
    trained = load_model(source).eval()
    config = trained.config
    grown = grow_model.grow(source, config["enc_depth"] + 2, config["dec_depth"] + 1).eval()
    assert len(grown.enc_blocks) == len(trained.enc_blocks) + 2 and len(grown.dec_blocks2) == len(trained.dec_blocks2) + 1
    with torch.no_grad():
        before, after = trained(*_views()), grown(*_views())
    for a, b in zip(before, after):
        for key in a:
            torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=1e-6)
    # The added blocks are not dead: their inputs still reach them, only the output projections are zero.
    assert grown.enc_blocks[-1].attn.qkv.weight.abs().sum() > 0
    assert grown.enc_blocks[-1].mlp.fc2.weight.abs().sum() == 0


def test_half_storage_halves_the_weights_and_loads_as_float32(tmp_path):
    grow_model = _grow_module()
    source = _tiny(tmp_path)
    model = load_model(source).eval()
    size = grow_model.save_half(model, tmp_path / "half")
    full = (source / "model.safetensors").stat().st_size / 1e6
    assert size < 0.6 * full
    half = load_model(tmp_path / "half").eval()
    assert all(p.dtype == torch.float32 for p in half.parameters())
    with torch.no_grad():
        a, b = model(*_views()), half(*_views())
    torch.testing.assert_close(b[0]["pts3d"], a[0]["pts3d"], atol=0.05, rtol=0.02)


TINY_ENV = {
    "PROFILE": "cpu", "BASE": "none", "SCENES": "1", "TEST_SCENES": "1", "VIEWS": "3", "SIZE": "32", "BATCH": "2",
    "STEPS": "2 2 2", "EPOCHS_PER_STAGE": "1", "SAVE_STEPS": "1", "RENDER_WORKERS": "1", "LOADER_WORKERS": "0",
    "OVERLAPS": "0.05 0.05 0.0", "ENC_DIM": "32", "ENC_HEADS": "2", "ENC_DEPTH": "1", "DEC_DIM": "32",
    "DEC_HEADS": "2", "DEC_DEPTH": "1", "TEST_PAIRS": "4",
}


@pytest.mark.slow
def test_the_cpu_profile_runs_every_stage_in_a_shrunk_form(tmp_path):
    """Three curriculum stages, per-stage logs, float16 export; a re-run skips what is done."""
    env = {**os.environ, **TINY_ENV, "OUT": str(tmp_path / "run"), "PYTHON": sys.executable,
           "RECON3R": f"{sys.executable} -m recon3r", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", str(SCRIPT), "--device", "cpu"], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "run" / "round1"
    for stage in ("stage1_narrow", "stage2_medium", "stage3_wide"):
        assert (run / stage / "DONE").is_file() and (run / stage / "checkpoint-last" / "model.safetensors").is_file()
        rows = list(csv.DictReader((run / stage / "metrics.csv").open()))
        assert any(r["split"] == "train" for r in rows) and any(r["split"].startswith("test") for r in rows)
    # Stage 2 continues from stage 1, stage 3 from stage 2.
    assert f"pretrained {run / 'stage1_narrow' / 'checkpoint-last'}" in done.stdout
    assert f"pretrained {run / 'stage2_medium' / 'checkpoint-last'}" in done.stdout
    final = load_model(run / "final")
    assert final.config["img_size"] == (32, 32) and final.config["landscape_only"] is False
    assert (tmp_path / "run" / "data_seed0" / "object" / "train" / "dataset.json").is_file()

    again = subprocess.run(["bash", str(SCRIPT), "--device", "cpu"], env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(": done (delete") == 3 and "epoch 1/1" not in again.stderr
