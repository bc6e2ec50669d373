"""ModelLRM at tiny size: shapes, gradients, injected render noise, freezing, round trip, config errors."""

from __future__ import annotations

import pytest
import torch

from recon3r.errors import ConfigError
from recon3r.geometry.cameras import opencv_opengl_pose, orbit_poses
from recon3r.models.checkpoint import load_model, save_model
from recon3r.models.lrm import ModelLRM, render_camera_vector, source_camera_vector
from recon3r.models.registry import build_model, list_models

N, M, REGION = 2, 2, 6


def _tiny(**overrides) -> ModelLRM:
    torch.manual_seed(0)
    return ModelLRM(**{**ModelLRM.tiny_config, **overrides})


def _inputs(n: int = N, m: int = M, region: int = REGION):
    g = torch.Generator().manual_seed(1)
    image = torch.rand(n, 3, 28, 28, generator=g)
    K = torch.tensor([[0.75, 0.0, 0.5], [0.0, 0.75, 0.5], [0.0, 0.0, 1.0]])
    source = source_camera_vector(opencv_opengl_pose(orbit_poses(n, 2.0, 0.0)), K.expand(n, 3, 3))
    render = render_camera_vector(opencv_opengl_pose(orbit_poses(n * m, 2.0, 0.8)), K.expand(n * m, 3, 3))
    return dict(image=image, source_camera=source, render_cameras=render.reshape(n, m, 25),
                render_anchors=torch.zeros(n, m, 2), render_resolutions=torch.full((n, m, 1), float(region)),
                render_bg_colors=torch.ones(n, m, 1), render_region_size=region)


def _noise(seed: int, model: ModelLRM, rays: int):
    g = torch.Generator().manual_seed(seed)
    D = model.synthesizer.coarse_samples
    return dict(stratified_noise=torch.rand(rays, REGION ** 2, D, 1, generator=g),
                importance_noise=torch.rand(rays * REGION ** 2, D, generator=g))


def test_forward_returns_the_official_output_dict_with_its_shapes():
    model = _tiny().eval()
    out = model(**_inputs())
    C, L = model.triplane_dim, model.triplane_low_res
    assert out["planes"].shape == (N, 3, C, 2 * L, 2 * L)
    assert out["images_rgb"].shape == (N, M, 3, REGION, REGION)
    assert out["images_depth"].shape == out["images_weight"].shape == (N, M, 1, REGION, REGION)
    assert all(torch.isfinite(v).all() for v in out.values())
    weight = out["images_weight"]
    assert (weight >= 0).all() and (weight <= 1 + 1e-6).all()
    assert "ModelLRM" in list_models() and ModelLRM.task_name == "single_image"


def test_injected_noise_makes_the_render_deterministic():
    model = _tiny().eval()
    inputs = _inputs()
    first = model(**inputs, **_noise(0, model, N * M))
    again = model(**inputs, **_noise(0, model, N * M))
    other = model(**inputs, **_noise(1, model, N * M))
    torch.testing.assert_close(first["images_rgb"], again["images_rgb"], atol=0, rtol=0)
    assert not torch.allclose(first["images_depth"], other["images_depth"])
    with pytest.raises(ValueError, match="stratified_noise"):
        model(**inputs, stratified_noise=torch.rand(3, 5))


def test_backward_reaches_every_parameter():
    model = _tiny().train()
    out = model(**_inputs())
    (out["images_rgb"].sum() + out["images_weight"].sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_frozen_encoder_gets_no_gradient_and_stays_in_eval_mode():
    model = _tiny(encoder_freeze=True).train()
    assert not model.encoder.model.training and model.transformer.training
    model(**_inputs())["images_rgb"].sum().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.pos_embed.grad is not None


def test_the_source_camera_changes_the_triplane():
    model = _tiny().eval()
    inputs = _inputs()
    planes = model.forward_planes(inputs["image"], inputs["source_camera"])
    moved = model.forward_planes(inputs["image"], inputs["source_camera"] + 0.1)
    assert not torch.allclose(planes, moved)


def test_safetensors_round_trip_keeps_config_and_outputs(tmp_path):
    model = _tiny().eval()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, ModelLRM) and loaded.config == model.config
    inputs = _inputs()
    noise = _noise(0, model, N * M)
    torch.testing.assert_close(loaded(**inputs, **noise)["images_rgb"], model(**inputs, **noise)["images_rgb"],
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"encoder_model_name": "dinov2_huge", "encoder_arch": None}, "dinov2_huge"),
    ({"encoder_type": "dino"}, "encoder_type"),
    ({"encoder_feat_dim": 48}, "encoder_feat_dim 48"),
    ({"rendering_samples_per_ray": 6}, "rendering_samples_per_ray"),
    ({"transformer_heads": 3}, "transformer_heads"),
    ({"encoder_arch": {"embed_dim": 32, "bogus": 1}}, "bogus"),
])
def test_config_errors_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        ModelLRM(**{**ModelLRM.tiny_config, **overrides})


def test_build_model_refuses_unknown_keywords():
    with pytest.raises(ConfigError, match="bogus"):
        build_model("ModelLRM", {**ModelLRM.tiny_config, "bogus": 1})
