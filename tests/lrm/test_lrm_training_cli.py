"""End to end through the CLI: `recon3r data make-objects` → `recon3r train` (a tiny ModelLRM, one epoch on
RenderedObjects) → `recon3r single-image` on the result; and the same training under torchrun (2 processes, gloo)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from recon3r.cli import main
from recon3r.models.lrm import ModelLRM

MODEL = "ModelLRM(" + ", ".join(f"{k}={v!r}" for k, v in ModelLRM.tiny_config.items()) + ")"


def objects_spec(root, split: str) -> str:
    return f"RenderedObjects(ROOT='{root}', split='{split}', num_views=3, resolution=32)"


@pytest.fixture(scope="module")
def objects_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lrm_train") / "objects"
    assert main(["data", "make-objects", "--out", str(root), "--objects", "3", "--renders", "4", "--size", "32",
                 "--test-objects", "1"]) == 0
    return root


def test_train_one_epoch_then_single_image_writes_mesh_and_videos(objects_root, tmp_path, capsys):
    pytest.importorskip("mcubes", reason="the `lrm` extra (PyMCubes) is not installed")
    pytest.importorskip("imageio_ffmpeg", reason="the `lrm` extra (imageio-ffmpeg) is not installed")
    import imageio.v3 as iio

    from recon3r.lrm.reconstruct import SingleImageOptions, reconstruct_single
    from recon3r.models.checkpoint import load_model

    run = tmp_path / "run"
    assert main(["train", "--model", MODEL, "--train_dataset", f"8 @ {objects_spec(objects_root, 'train')}",
                 "--test_dataset", objects_spec(objects_root, "test"), "--epochs", "1", "--batch_size", "2",
                 "--lr", "1e-3", "--output_dir", str(run), "--device", "cpu", "--log_freq", "1"]) == 0
    out = capsys.readouterr().out
    assert "done: epoch 1, step 4" in out and "psnr=" in out and "mask_iou=" in out
    with (run / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows if r["split"] == "train" and r["name"] == "loss"] == [1, 2, 3, 4]
    weights = run / "checkpoint-last"

    # A surface level that the trained field crosses (a one-epoch tiny model's density is far below OpenLRM's 3).
    image = objects_root / "object_00002" / "000.png"
    model = load_model(weights, expect="ModelLRM")
    planes = reconstruct_single(image, model, SingleImageOptions(export_mesh=False, export_video=False)).planes
    with torch.no_grad():
        sigma = model.synthesizer.forward_grid(planes, 12)["sigma"]
    threshold = float(sigma.median())
    result = tmp_path / "single"
    assert main(["single-image", str(image), "--weights", str(weights), "--out", str(result), "--mesh-size", "12",
                 "--mesh-threshold", f"{threshold:.6g}", "--views", "4", "--render-size", "16"]) == 0
    for name in ("mesh.ply", "mesh.glb", "turntable.mp4", "turntable.gif", "triplane.safetensors"):
        assert (result / name).stat().st_size > 0, name
    video = iio.imread(result / "turntable.mp4")
    assert video.shape == (4, 16, 16, 3) and video.dtype == np.uint8


@pytest.mark.slow  # two processes on a 2-core machine: 8 s here, more under load (like tests/train/test_distributed.py)
def test_torchrun_two_processes_train_a_tiny_lrm(objects_root, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "recon3r",
               "train", "--model", MODEL, "--train_dataset", f"8 @ {objects_spec(objects_root, 'train')}",
               "--batch_size", "1", "--accum_iter", "2", "--epochs", "1", "--lr", "1e-3", "--output_dir", str(run),
               "--device", "cpu", "--log_freq", "1", "--freeze_encoder"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    with (run / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    # 8 samples / (1 per rank × 2 micro-batches × 2 ranks) = 2 steps, logged once each (by rank 0 only).
    losses = [r for r in rows if r["split"] == "train" and r["name"] == "loss"]
    assert [r["step"] for r in losses] == ["1", "2"] and all(np.isfinite(float(r["value"])) for r in losses)
    from safetensors.torch import load_file

    trained = load_file(str(run / "checkpoint-last" / "model.safetensors"))
    assert set(trained) == set(ModelLRM(**ModelLRM.tiny_config).state_dict())
    assert all(torch.isfinite(v).all() for v in trained.values())
