"""Point3R: shapes on a tiny stream, gradients to every parameter, safetensors round trip, config errors."""

import pytest
import torch

from recon3r.errors import ConfigError
from recon3r.models import load_model, save_model
from recon3r.models.point3r import POINT3R_CONFIGS, Point3R
from recon3r.models.registry import build_model, list_models

TEST_CONFIG = POINT3R_CONFIGS["test"]


def _frames(n=3, h=24, w=32, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_three_frame_stream_gives_world_and_camera_pointmaps_and_a_growing_memory():
    torch.manual_seed(0)
    model = Point3R(**TEST_CONFIG).eval()
    outputs, memory = model.forward_stream(_frames())
    assert len(outputs) == 3
    for out in outputs:
        assert out["pts3d"].shape == out["pts3d_cam"].shape == (1, 24, 32, 3)
        assert out["conf"].shape == out["conf_cam"].shape == (1, 24, 32)
        assert torch.isfinite(out["pts3d"]).all() and (out["conf"] >= 1).all()
    tokens = (24 // 8) * (32 // 8)
    assert [o["memory_size"] for o in outputs][0] == 0
    assert outputs[1]["memory_size"] == tokens  # frame 0 adds one pointer per token
    assert tokens <= len(memory) <= 3 * tokens
    assert memory.positions.shape == (len(memory), 3) and memory.features.shape == (len(memory), 24)


def test_step_api_matches_forward_stream():
    torch.manual_seed(0)
    model = Point3R(**TEST_CONFIG).eval()
    frames = _frames()
    with torch.no_grad():
        outputs, _ = model.forward_stream(frames)
        memory = model.new_memory()
        for t in range(3):
            out, memory = model.step(frames[t : t + 1], memory)
            torch.testing.assert_close(out["pts3d"], outputs[t]["pts3d"])


def test_memory_changes_the_prediction_of_later_frames():
    torch.manual_seed(0)
    model = Point3R(**TEST_CONFIG).eval()
    frames = _frames()
    with torch.no_grad():
        with_history, _ = model.forward_stream(frames)
        alone, _ = model.forward_stream(frames[2:])
    assert not torch.allclose(with_history[2]["pts3d"], alone[0]["pts3d"])


def test_backward_reaches_every_parameter():
    torch.manual_seed(0)
    model = Point3R(**TEST_CONFIG)
    outputs, _ = model.forward_stream(_frames())
    loss = sum((o["pts3d"] ** 2).mean() + o["conf"].mean() + (o["pts3d_cam"] ** 2).mean() + o["conf_cam"].mean()
               for o in outputs)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    assert all(float(p.grad.abs().sum()) > 0 for p in model.parameters())


def test_safetensors_round_trip_rebuilds_the_same_model(tmp_path):
    torch.manual_seed(0)
    model = Point3R(**TEST_CONFIG, merge_ratio=0.1).eval()
    save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(tmp_path)
    assert type(loaded) is Point3R and loaded.cfg == model.cfg
    frames = _frames()
    with torch.no_grad():
        a, mem_a = model.forward_stream(frames)
        b, mem_b = loaded.forward_stream(frames)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    for x, y in zip(a, b):  # equal weights in other buffers may take other kernels: 1e-6, not bit-exact
        torch.testing.assert_close(x["pts3d"], y["pts3d"], rtol=1e-6, atol=1e-6)
    assert len(mem_a) == len(mem_b)


def test_registered_by_name_and_bad_configs_are_refused():
    assert "Point3R" in list_models()
    assert isinstance(build_model("Point3R", TEST_CONFIG), Point3R)
    with pytest.raises(ConfigError, match="unknown argument"):
        Point3R(depth=3)
    with pytest.raises(ConfigError, match="multiple of 4"):
        Point3R(enc_embed_dim=30, enc_num_heads=3)


def test_frames_must_be_single_images():
    model = Point3R(**TEST_CONFIG)
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        model.step(torch.zeros(2, 3, 24, 32), model.new_memory())
