"""Depth3DModel: forward shapes, permutation invariance, gradients everywhere, safetensors round trip."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from recon3r.depth3d.recover import load_depth3d_model
from recon3r.errors import CheckpointError
from recon3r.models import build_model, get_model_class, load_model, save_model
from recon3r.models.depth3d import Depth3DConfig, Depth3DModel


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Depth3DModel(**Depth3DModel.tiny_config)


def test_forward_gives_one_shift_and_one_focal_scale_per_cloud(model):
    out = model(torch.randn(3, 50, 3))
    assert set(out) == {"shift", "log_focal_scale"}
    assert out["shift"].shape == out["log_focal_scale"].shape == (3,)
    assert torch.isfinite(out["shift"]).all() and torch.isfinite(out["log_focal_scale"]).all()
    assert not torch.allclose(out["shift"], out["log_focal_scale"])  # two separate networks


def test_prediction_does_not_depend_on_point_order(model):
    points = torch.randn(2, 40, 3)
    permuted = points[:, torch.randperm(40)]
    torch.testing.assert_close(model.predict_shift(points), model.predict_shift(permuted))
    torch.testing.assert_close(model.predict_log_focal_scale(points), model.predict_log_focal_scale(permuted))


def test_backward_reaches_every_parameter(model):
    out = model(torch.randn(2, 30, 3))
    (out["shift"].square().sum() + out["log_focal_scale"].square().sum() + out["shift"].sum()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_bad_point_shapes_raise(model):
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        model.predict_shift(torch.randn(2, 30, 2))


def test_config_is_typed_and_json_ready(model):
    assert model.config == asdict(Depth3DConfig(point_widths=(16, 32), head_widths=(16,), num_points=256))
    json.dumps(model.config)
    assert Depth3DModel.from_config(Depth3DConfig(**model.config)).config == model.config
    assert get_model_class("Depth3DModel") is Depth3DModel
    built = build_model("Depth3DModel", model.config)
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in model.parameters())


def test_safetensors_round_trip_gives_identical_outputs(model, tmp_path):
    save_model(model, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["class"] == "Depth3DModel" and config["kwargs"]["point_widths"] == [16, 32]
    loaded = load_depth3d_model(tmp_path / "m")
    assert isinstance(loaded, Depth3DModel) and not loaded.training
    points = torch.randn(2, 64, 3)
    for key, value in model.eval()(points).items():  # weights equal, kernels may not be: 1e-6
        torch.testing.assert_close(loaded(points)[key], value, rtol=1e-6, atol=1e-6)
    assert loaded.num_points == Depth3DModel.tiny_config["num_points"]
    assert type(load_model(tmp_path / "m")) is Depth3DModel


def test_loading_a_pair_model_as_depth3d_is_refused(tiny_weights):
    with pytest.raises(CheckpointError, match="not the Depth3DModel model"):
        load_depth3d_model(tiny_weights)


def test_five_channel_voxel_model_builds_clouds_the_same_way_in_training_and_inference():
    import numpy as np

    from recon3r.depth3d import recover_shift_and_focal
    from recon3r.models.depth3d import select_pixels

    torch.manual_seed(0)
    model = Depth3DModel(point_widths=(8,), head_widths=(8,), num_points=64, input_channels=5, voxel_size=0.2,
                         init_scale=2.0, predict_scale=True, refine_iterations=2).eval()
    assert model.heads == ("shift", "focal", "scale")
    out = model(torch.randn(2, 64, 5))
    assert set(out) == {"shift", "log_focal_scale", "log_scale"}
    depth = np.fromfunction(lambda y, x: 1.0 + 0.05 * x + 0.02 * y, (24, 32))
    result = recover_shift_and_focal(depth, 30.0, model)
    assert result.median_depth_m is not None and float(result.median_depth_m) > 0
    # Voxel sampling keeps at most one pixel per voxel before drawing.
    pixels = select_pixels(depth / np.median(depth), depth > 0, np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]),
                           500, np.random.default_rng(0), voxel_size=0.2)
    assert len(np.unique(pixels, axis=0)) < 500


def test_bad_model_options_are_named():
    from recon3r.errors import ConfigError

    with pytest.raises(ConfigError, match="input_channels must be 3"):
        Depth3DModel(input_channels=4)
    with pytest.raises(ConfigError, match="refine_iterations"):
        Depth3DModel(refine_iterations=0)
