"""The depth-to-3D task: seeded distortions whose targets undo them, batches, and training through the shared trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon3r.data import Procedural
from recon3r.errors import ConfigError
from recon3r.geometry.depth_shift import apply_correction
from recon3r.tasks import get_task, task_for
from recon3r.tasks.depth_to_3d import DepthTo3DTask, DistortionRange, distort_depth
from recon3r.train.config import TrainConfig
from recon3r.train.trainer import train

SPEC = "Procedural(scenes=4, views=1, kind='pairs', size=32, num_views=1, resolution=32, split='{split}')"


def _views():
    return Procedural(scenes=4, views=1, kind="pairs", size=32, num_views=1, resolution=32)


def test_distorted_targets_undo_the_distortion_exactly():
    view = _views()[0][0]
    depth = view["depthmap"].astype(np.float64)
    focal = float(view["camera_intrinsics"][0, 0])
    sample = distort_depth(depth, focal, np.random.default_rng(0))
    valid = sample.valid
    back, back_focal = apply_correction(torch.as_tensor(sample.depth, dtype=torch.float64)[None], sample.focal_guess,
                                        sample.shift, float(np.exp(sample.log_focal_scale)))
    ratio = back[0].numpy()[valid] / depth[valid]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)  # ∝ the true depth
    assert abs(float(back_focal[0]) - focal) < 1e-9 * focal
    assert sample.shift != 0.0


def test_shift_range_changes_the_input_cloud():
    views = _views()[0]
    plain = DepthTo3DTask(DistortionRange(shift_min=0.0, shift_max_frac=0.0), num_points=64).collate([views])
    shifted = DepthTo3DTask(num_points=64).collate([views])
    assert float(plain["shift"].abs().max()) == 0.0 and float(shifted["shift"].abs().max()) > 0.0
    assert not torch.allclose(plain["shift_points"], shifted["shift_points"])


def test_collate_is_a_function_of_the_item_and_changes_with_the_epoch():
    dataset = _views()
    task = DepthTo3DTask(num_points=64)
    a, b = task.collate([dataset[0], dataset[1]]), task.collate([dataset[0], dataset[1]])
    for key in a:
        assert torch.equal(a[key], b[key])
    assert a["shift_points"].shape == (2, 64, 3) and a["weight"].tolist() == [1.0, 1.0]
    dataset.set_epoch(1)
    assert not torch.equal(task.collate([dataset[0]])["shift"], a["shift"][:1])


def test_model_class_picks_its_task():
    from recon3r.models.depth3d import Depth3DModel

    assert isinstance(task_for(Depth3DModel), DepthTo3DTask)
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        get_task("nope")


def test_shared_trainer_trains_depth3d_and_logs_its_metrics(tmp_path):
    config = TrainConfig(model="Depth3DModel(point_widths=(16, 32), head_widths=(16,), num_points=128)",
                         train_dataset="16 @ " + SPEC.format(split="train"), test_dataset=SPEC.format(split="test"),
                         epochs=2, batch_size=4, lr=3e-3, output_dir=str(tmp_path / "run"), log_freq=1, device="cpu")
    summary = train(config, show_progress=False)
    assert summary["global_step"] == 8
    log = (tmp_path / "run" / "metrics.csv").read_text()
    for name in ("shift_loss", "focal_loss", "shift_error", "focal_error"):
        assert name in log
    assert (tmp_path / "run" / "checkpoint-best" / "model.safetensors").is_file()


def test_a_pair_model_refuses_single_view_samples_before_training(tmp_path):
    config = TrainConfig(model="AsymmetricCroCo3DStereo(enc_embed_dim=32, enc_depth=1, enc_num_heads=2, dec_embed_dim=32, "
                         "dec_depth=1, dec_num_heads=2, img_size=(32, 32), pos_embed='RoPE100')",
                         train_dataset=SPEC.format(split="train"), output_dir=str(tmp_path / "run"), device="cpu")
    with pytest.raises(ConfigError, match=r"gives samples of 1 view\(s\); this task needs 2"):
        train(config, show_progress=False)


@pytest.mark.slow  # two processes on a 2-core machine
def test_torchrun_trains_depth3d_with_two_processes(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "recon3r",
               "train", "--model", "Depth3DModel(point_widths=(16, 32), head_widths=(16,), num_points=64)",
               "--train_dataset", "8 @ " + SPEC.format(split="train"), "--batch_size", "2", "--epochs", "1",
               "--lr", "1e-3", "--output_dir", str(out), "--device", "cpu", "--log_freq", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "checkpoint-last" / "model.safetensors").is_file()
    rows = (out / "metrics.csv").read_text().splitlines()
    steps = [row.split(",")[3] for row in rows if ",train," in row and ",shift_loss," in row]
    assert steps == ["1", "2"]  # 8 samples / (2 per rank x 2 ranks): rank 0 logs each step once
