"""The LRM model: shapes, gradients to every parameter, safetensors round trip, base config on `meta`."""

import pytest
import torch

from recon3r.errors import ConfigError
from recon3r.models.checkpoint import load_model, save_model
from recon3r.models.lrm import LRM, LRM_CONFIGS, build_lrm, normalized_intrinsics
from recon3r.models.registry import list_models

CAMERA = torch.tensor([[1.07, 1.07, 0.48, 0.48], [0.9, 0.9, 0.5, 0.5]])


def _inputs(size):
    return torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1, CAMERA


def test_forward_gives_planes_and_render_gives_rgb_depth_opacity():
    torch.manual_seed(0)
    model = build_lrm("test")
    image, cam = _inputs(16)
    planes = model(image, cam)
    cfg = model.cfg
    assert planes.shape == (2, 3, cfg.plane_channels, cfg.plane_resolution, cfg.plane_resolution)
    origins = torch.tensor([0.0, 0.0, -2.2]).expand(2, 5, 3)
    dirs = torch.cat((torch.rand(2, 5, 2) * 0.6 - 0.3, torch.ones(2, 5, 1)), dim=-1)
    out = model.render(planes, origins, dirs, samples=8)
    assert out.rgb.shape == (2, 5, 3) and out.depth.shape == out.opacity.shape == (2, 5)
    assert torch.isfinite(out.rgb).all() and (out.opacity >= 0).all() and (out.opacity <= 1).all()
    sigma, rgb = model.query(planes, torch.rand(2, 9, 3) * 2 - 1)
    assert sigma.shape == (2, 9) and rgb.shape == (2, 9, 3) and (sigma >= 0).all()


def test_the_camera_code_changes_the_output():
    torch.manual_seed(0)
    model = build_lrm("test")
    image, cam = _inputs(16)
    assert not torch.allclose(model(image, cam), model(image, cam.flip(0)))


def test_backward_reaches_every_parameter():
    torch.manual_seed(0)
    model = build_lrm("test")
    image, cam = _inputs(16)
    planes = model(image, cam)
    origins = torch.tensor([0.0, 0.0, -2.2]).expand(2, 16, 3)
    dirs = torch.cat((torch.rand(2, 16, 2) * 0.8 - 0.4, torch.ones(2, 16, 1)), dim=-1)
    out = model.render(planes, origins, dirs, samples=8)
    (out.rgb.sum() + out.opacity.sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_safetensors_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = build_lrm("test").eval()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, LRM) and loaded.config == model.config
    image, cam = _inputs(16)
    torch.testing.assert_close(loaded(image, cam), model(image, cam), atol=1e-6, rtol=1e-6)
    assert "LRM" in list_models()


def test_base_config_builds_on_meta_with_paper_scale():
    with torch.device("meta"):
        model = build_lrm("base")
    params = sum(p.numel() for p in model.parameters())
    assert 2e8 < params < 6e8  # the paper's LRM has about 500 M parameters
    assert model.cfg.plane_resolution == 64 and model.cfg.plane_channels == 80
    assert all(p.is_meta for p in model.parameters())


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="bogus"):
        LRM(bogus=1)
    with pytest.raises(ConfigError, match="patch_size"):
        LRM(img_size=30)
    with pytest.raises(ConfigError, match="variant"):
        build_lrm("huge")
    assert set(LRM_CONFIGS) >= {"tiny", "base"}


def test_normalized_intrinsics():
    K = torch.tensor([[[40.0, 0, 15.5], [0, 30.0, 7.5], [0, 0, 1]]])
    torch.testing.assert_close(normalized_intrinsics(K, 32, 16), torch.tensor([[1.25, 1.875, 15.5 / 32, 7.5 / 16]]))
