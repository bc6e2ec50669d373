"""Point3R (tiny): step API = forward, gradients, encoder freezing, quirk flags, memory cap, round trip, errors."""

import pytest
import torch

from recon3r.errors import ConfigError
from recon3r.models import load_model, save_model
from recon3r.models.point3r import Point3R
from recon3r.models.registry import build_model, list_models

TINY = Point3R.tiny_config
KEYS = ("pts3d_in_self_view", "conf_self", "camera_pose", "pts3d_in_other_view", "conf")


def _views(n=4, batch=1, h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(batch, 3, h, w + 4 * n, generator=g) * 2 - 1
    return [{"img": base[..., 4 * t : 4 * t + w].contiguous(), "true_shape": torch.tensor([[h, w]] * batch)}
            for t in range(n)]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Point3R(**TINY).eval()


def test_forward_gives_the_official_keys_and_shapes(model):
    with torch.no_grad():
        results, state = model.stream(_views(batch=2))
    assert len(results) == 4
    for res in results:
        assert list(res) == list(KEYS)
        assert res["pts3d_in_self_view"].shape == res["pts3d_in_other_view"].shape == (2, 32, 48, 3)
        assert res["conf"].shape == res["conf_self"].shape == (2, 32, 48)
        assert res["camera_pose"].shape == (2, 7)
        assert (res["camera_pose"][:, 3] >= 0).all()
        torch.testing.assert_close(res["camera_pose"][:, 3:].norm(dim=-1), torch.ones(2))
        assert (res["conf"] >= 1).all() and torch.isfinite(res["pts3d_in_other_view"]).all()
    assert state.frame == 4 and len(state.memory) == 2
    assert all(6 <= c <= 4 * 6 for c in state.memory.counts)  # 2×3 patches per frame, never removed


def test_step_api_frame_by_frame_matches_the_batched_forward(model):
    views = _views()
    with torch.no_grad():
        batched, final = model.stream(views)
        state = None
        for view, expected in zip(views, batched):
            out, state = model.step(view, state)
            for key in KEYS:
                torch.testing.assert_close(out[key], expected[key], atol=1e-5, rtol=1e-5)
    assert state.memory.counts == final.memory.counts


def test_memory_changes_later_frames(model):
    views = _views()
    with torch.no_grad():
        with_history = model(views)[2]
        alone = model(views[2:])[0]
    assert not torch.allclose(with_history["pts3d_in_other_view"], alone["pts3d_in_other_view"])


def test_memory_cap_bounds_the_pointer_count(model):
    views = _views(n=8)
    with torch.no_grad():
        _, free = model.stream(views)
        _, capped = model.stream(views, max_pointers=10)
    assert free.memory.counts[0] > 10
    assert capped.memory.counts[0] == 10
    with pytest.raises(ValueError, match="below the 6 patches"):
        model.stream(views, max_pointers=5)


def test_backward_reaches_every_parameter_the_official_model_trains():
    torch.manual_seed(0)
    model = Point3R(**TINY)
    loss = sum(r[k].square().mean() for r in model(_views(n=3)) for k in KEYS)
    loss.backward()
    last = len(model.dec_blocks) - 1
    # The official decoder discards the memory stream's output: its last block and norm never matter;
    # DPT's coarsest fusion block has no skip input, so its first residual unit is unused (as in DUSt3R).
    discarded = (f"dec_blocks_memory.{last}.", "dec_norm_memory.", "downstream_head.dpt_self.scratch.refinenet4.resConfUnit1.",
                 "downstream_head.dpt_cross.scratch.refinenet4.resConfUnit1.")
    without = sorted(n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0)
    assert without == sorted(n for n, _ in model.named_parameters() if n.startswith(discarded))


def test_memory_write_back_flag_feeds_the_memory_stream_into_the_pointers():
    torch.manual_seed(0)
    official = Point3R(**TINY).eval()
    cleaner = Point3R(**TINY, memory_write_back=True).eval()
    cleaner.load_state_dict(official.state_dict())
    views = _views()
    with torch.no_grad():
        a, b = official(views), cleaner(views)
    torch.testing.assert_close(a[1]["conf"], b[1]["conf"])  # frame 1 reads frame 0's fresh pointers
    assert not torch.allclose(a[2]["pts3d_in_other_view"], b[2]["pts3d_in_other_view"])


def test_freeze_encoder_freezes_exactly_patch_embed_blocks_and_norm():
    model = Point3R(**TINY, freeze="encoder")
    frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
    assert frozen == sorted(n for n, _ in model.named_parameters() if n.startswith(("patch_embed.", "enc_blocks.", "enc_norm.")))


def test_safetensors_round_trip_rebuilds_the_same_model(tmp_path, model):
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert type(loaded) is Point3R and loaded.config == model.config
    views = _views()
    with torch.no_grad():
        for x, y in zip(model(views), loaded(views)):
            torch.testing.assert_close(x["pts3d_in_other_view"], y["pts3d_in_other_view"], atol=1e-6, rtol=0)


def test_registered_with_task_and_bad_configs_are_refused():
    assert "Point3R" in list_models() and Point3R.task_name == "stream"
    assert isinstance(build_model("Point3R", TINY), Point3R)
    with pytest.raises(ConfigError, match="unknown argument"):
        build_model("Point3R", dict(TINY, depth=3))
    with pytest.raises(ConfigError, match="pose_head=True"):
        Point3R(**dict(TINY, pose_head=False))
    with pytest.raises(ConfigError, match="RoPE3D"):
        Point3R(**dict(TINY, pos_embed_3d="None"))
    with pytest.raises(ConfigError, match="dec_depth >= 2"):
        Point3R(**dict(TINY, dec_depth=1))
    with pytest.raises(ConfigError, match="memory_dec"):
        Point3R(**dict(TINY, memory_dec_num_heads=3))


def test_a_state_for_another_batch_size_is_refused(model):
    views = _views(batch=2)
    with torch.no_grad():
        _, state = model.stream(views[:2])
        with pytest.raises(ValueError, match="batch of 1"):
            model.step({"img": views[2]["img"][:1], "true_shape": views[2]["true_shape"][:1]}, state)


def test_img_mask_zeroes_the_encoder_tokens_of_masked_frames(model):
    views = _views(n=3)
    masked = [dict(v, img_mask=torch.tensor([t != 1])) for t, v in enumerate(views)]
    with torch.no_grad():
        plain, with_mask = model(views), model(masked)
        all_true = model([dict(v, img_mask=torch.tensor([True])) for v in views])
    torch.testing.assert_close(all_true[2]["conf"], plain[2]["conf"], atol=0, rtol=0)
    torch.testing.assert_close(with_mask[0]["conf"], plain[0]["conf"], atol=0, rtol=0)
    assert not torch.allclose(with_mask[1]["pts3d_in_self_view"], plain[1]["pts3d_in_self_view"])
