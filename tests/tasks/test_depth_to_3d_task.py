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


def _task_from_cli(*flags):
    """The depth-to-3D task configured as `recon3r train ... FLAGS` would configure it."""
    from recon3r.cli import build_parser
    from recon3r.models.depth3d import Depth3DModel
    from recon3r.seeds import apply_train3d_args

    args = build_parser().parse_args(["train", "--model", "Depth3DModel(num_points=64)", *flags])
    apply_train3d_args(args)
    task = DepthTo3DTask()
    task.set_options(args.task_options)
    task.configure(Depth3DModel(num_points=64))
    return task


def test_distort_s_changes_the_input_cloud_and_gives_a_nonzero_shift_label():
    views = [_views()[k] for k in range(3)]
    focal_only = _task_from_cli("--distort_f").collate(views)
    shifted = _task_from_cli("--distort_s").collate(views)
    assert float(focal_only["shift"].abs().max()) == 0.0
    assert (shifted["shift"].abs() > 1e-3).all()
    assert float(shifted["log_focal_scale"].abs().max()) == 0.0  # --distort_s alone: the focal guess is the truth
    assert not torch.allclose(shifted["shift_points"], focal_only["shift_points"])
    both = _task_from_cli().collate(views)  # recon3r's default distorts both
    assert (both["shift"].abs() > 1e-3).all() and (both["log_focal_scale"].abs() > 1e-4).all()


def test_the_focal_label_is_true_over_guessed_focal():
    """One convention: f_true = f_guess · exp(log_focal_scale); the shift cloud uses f_guess."""
    from recon3r.geometry.cameras import depth_to_points, intrinsics_from_focal

    view = _views()[0][0]
    depth = view["depthmap"].astype(np.float64)
    focal = float(view["camera_intrinsics"][0, 0])
    sample = distort_depth(depth, focal, np.random.default_rng(3))
    assert abs(sample.focal_guess * np.exp(sample.log_focal_scale) - focal) < 1e-9 * focal
    assert abs(np.exp(sample.log_focal_scale) - focal / sample.focal_guess) < 1e-12
    # The shift network's cloud is unprojected with the guess: its x / z is (u − cx) / f_guess.
    task = DepthTo3DTask(num_points=32)
    rng = np.random.default_rng(5)
    (cloud, _), _, log_scale = task.distorted_clouds(depth, view["camera_intrinsics"].astype(np.float64), rng)
    guess = focal / np.exp(log_scale)
    k = intrinsics_from_focal(torch.tensor([guess], dtype=torch.float64), *depth.shape,
                              torch.as_tensor(view["camera_intrinsics"][None, :2, 2], dtype=torch.float64))
    full = depth_to_points(torch.ones(1, *depth.shape, dtype=torch.float64), k)[0].reshape(-1, 3)
    ratios = torch.stack([cloud[:, 0] / cloud[:, 2], cloud[:, 1] / cloud[:, 2]], -1).double()
    # Every point's direction is one of the guess's pixel rays (up to the left-right mirror).
    rays = full[:, :2]
    close = torch.cdist(ratios.abs(), rays.abs()).min(dim=1).values
    assert float(close.max()) < 1e-5


def test_task_options_flow_from_the_command_line_and_bad_ones_are_named():
    task = _task_from_cli("--task_options", "targets='focal', log_focal_range=0.3")
    assert task.targets == ("focal",) and task.ranges.log_focal_range == 0.3
    from recon3r.models.depth3d import Depth3DModel

    scale_only = DepthTo3DTask()
    scale_only.set_options("targets='scale'")
    with pytest.raises(ConfigError, match="no scale network"):
        scale_only.configure(Depth3DModel())
    scale_only.configure(Depth3DModel(predict_scale=True))
    assert scale_only.targets == ("scale",)
    with pytest.raises(ConfigError, match="nope"):
        DepthTo3DTask().set_options("nope=1")


def test_the_model_is_back_in_training_mode_after_each_validation(tmp_path, monkeypatch):
    """Train-3D never called model.train() after validating; the shared trainer does at each epoch."""
    modes = []
    forward = DepthTo3DTask.forward

    def recording(self, model, batch):
        modes.append(model.training)
        return forward(self, model, batch)

    monkeypatch.setattr(DepthTo3DTask, "forward", recording)
    config = TrainConfig(model="Depth3DModel(point_widths=(8,), head_widths=(8,), num_points=32)",
                         train_dataset="4 @ " + SPEC.format(split="train"), test_dataset=SPEC.format(split="test"),
                         epochs=2, batch_size=2, lr=1e-3, output_dir=str(tmp_path / "run"), device="cpu", log_freq=1)
    train(config, show_progress=False)
    # epoch 1: 2 training steps, then 2 test batches; epoch 2: 2 training steps, then 2 test batches.
    assert modes == [True, True, False, False, True, True, False, False]
