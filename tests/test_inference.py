"""Batched pair inference: pairing, batching by shape, memory behaviour, device and autocast handling."""

from __future__ import annotations

import math
import weakref

import numpy as np
import pytest
import torch
from torch import nn

from recon3r.inference import PairPrediction, group_pairs, run_pairs
from recon3r.io.images import View
from recon3r.pairs import make_pairs
from recon3r.scene import ImageTransform


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


class KnownScene:
    """N cameras with known poses, intrinsics and depth maps; world points per image."""

    def __init__(self, shapes: list[tuple[int, int]], seed: int = 0):
        rng = np.random.default_rng(seed)
        self.shapes = shapes
        self.world_from_cam, self.intrinsics, self.world_points = [], [], []
        for i, (h, w) in enumerate(shapes):
            pose = np.eye(4)
            pose[:3, :3] = _rotation(rng.normal(size=3), 0.2 * (i + 1))
            pose[:3, 3] = rng.normal(size=3) * 0.3
            k = np.array([[1.1 * w, 0, w / 2], [0, 1.1 * w, h / 2], [0, 0, 1.0]])
            depth = 2.0 + rng.uniform(0, 1, size=(h, w))
            ys, xs = np.mgrid[0:h, 0:w]
            cam = np.stack([(xs - k[0, 2]) / k[0, 0] * depth, (ys - k[1, 2]) / k[1, 1] * depth, depth], -1)
            self.world_from_cam.append(pose)
            self.intrinsics.append(k)
            self.world_points.append(cam @ pose[:3, :3].T + pose[:3, 3])

    def points_in_camera(self, image: int, camera: int) -> np.ndarray:
        cam_from_world = np.linalg.inv(self.world_from_cam[camera])
        return self.world_points[image] @ cam_from_world[:3, :3].T + cam_from_world[:3, 3]

    def views(self) -> list[View]:
        views = []
        for i, (h, w) in enumerate(self.shapes):
            img = torch.full((1, 3, h, w), i / 10 - 0.5)  # the pixels encode the image index
            t = ImageTransform(original_size=(w, h), scale=1.0, crop_offset=(0.0, 0.0), network_size=(w, h))
            views.append(View(img=img, true_shape=torch.tensor([[h, w]]), idx=i, instance=str(i),
                              name=f"im{i}.png", transform=t))
        return views


class FakePairModel(nn.Module):
    """The DUSt3R interface with exact pointmaps from a KnownScene, recording what each call saw."""

    def __init__(self, scene: KnownScene):
        super().__init__()
        self.scene = scene
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[dict] = []
        self._previous_outputs: list[weakref.ref] = []

    def forward(self, view1: dict, view2: dict):
        # Nothing the previous batch returned may still be alive: run_pairs keeps only CPU copies.
        leaked = sum(ref() is not None for ref in self._previous_outputs)
        self.calls.append({
            "pairs": [(int(a), int(b)) for a, b in zip(view1["instance"], view2["instance"])],
            "shapes": (tuple(view1["img"].shape), tuple(view2["img"].shape)),
            "inference_mode": torch.is_inference_mode_enabled(),
            "autocast": torch.is_autocast_enabled("cpu"),
            "leaked": leaked,
            "device": view1["img"].device,
        })
        res1 = {"pts3d": [], "conf": []}
        res2 = {"pts3d_in_other_view": [], "conf": []}
        for b, (a, c) in enumerate(zip(view1["instance"], view2["instance"])):
            i, j = int(a), int(c)
            assert torch.allclose(view1["img"][b], torch.tensor(i / 10 - 0.5))
            assert torch.allclose(view2["img"][b], torch.tensor(j / 10 - 0.5))
            assert view1["true_shape"][b].tolist() == list(view1["img"].shape[-2:])
            assert view1["idx"][b] == i and view2["idx"][b] == j
            res1["pts3d"].append(torch.from_numpy(self.scene.points_in_camera(i, i)))
            res2["pts3d_in_other_view"].append(torch.from_numpy(self.scene.points_in_camera(j, i)))
            res1["conf"].append(torch.full(self.scene.shapes[i], 1000.0 + 10 * i + j))
            res2["conf"].append(torch.full(self.scene.shapes[j], 2000.0 + 10 * i + j))
        # Outputs wrap numpy buffers so that a weak reference tracks their memory, views included.
        buffers = []

        def tracked(t: torch.Tensor) -> torch.Tensor:
            buffers.append(t.detach().float().numpy().copy())
            return torch.from_numpy(buffers[-1])

        res1 = {k: tracked(torch.stack(v)) for k, v in res1.items()}
        res2 = {k: tracked(torch.stack(v)) for k, v in res2.items()}
        # A large intermediate feature that must not survive the batch.
        res1["features"] = tracked(torch.zeros(len(view1["instance"]), 4096))
        self._previous_outputs = [weakref.ref(b) for b in buffers]
        return res1, res2


def _check_geometry(scene: KnownScene, pred: PairPrediction):
    pose_i = scene.world_from_cam[pred.i]
    for pts, image in ((pred.pts_i, pred.i), (pred.pts_j, pred.j)):
        world = pts.double().numpy() @ pose_i[:3, :3].T + pose_i[:3, 3]
        np.testing.assert_allclose(world, scene.world_points[image], atol=1e-4)
    assert torch.all(pred.conf_i == 1000 + 10 * pred.i + pred.j)
    assert torch.all(pred.conf_j == 2000 + 10 * pred.i + pred.j)


def test_predictions_follow_pair_order_and_geometry():
    scene = KnownScene([(8, 12)] * 5)
    views = scene.views()
    pairs = make_pairs(views, "swin-2")
    model = FakePairModel(scene)
    preds = run_pairs(model, pairs, batch_size=3, progress=False)
    assert [(p.i, p.j) for p in preds] == [(a.idx, b.idx) for a, b in pairs]
    for pred in preds:
        _check_geometry(scene, pred)
    assert len(model.calls) == math.ceil(len(pairs) / 3)
    assert all(c["inference_mode"] and not c["autocast"] for c in model.calls)


def test_batches_group_equal_shapes_and_keep_reverse_pairs_together():
    shapes = [(8, 12), (12, 8), (8, 12), (12, 8), (8, 12)]  # landscape and portrait images
    scene = KnownScene(shapes)
    views = scene.views()
    pairs = make_pairs(views, "complete")
    model = FakePairModel(scene)
    preds = run_pairs(model, pairs, batch_size=4, progress=False)
    for pred in preds:
        _check_geometry(scene, pred)
        assert tuple(pred.pts_i.shape) == (*shapes[pred.i], 3)
        assert tuple(pred.conf_j.shape) == shapes[pred.j]
    groups: dict = {}
    for a, b in pairs:
        groups[(a.img.shape, b.img.shape)] = groups.get((a.img.shape, b.img.shape), 0) + 1
    assert len(model.calls) == sum(math.ceil(n / 4) for n in groups.values())
    for call in model.calls:
        (s1, s2) = call["shapes"]
        batch = call["pairs"]
        assert all(shapes[i] == tuple(s1[-2:]) and shapes[j] == tuple(s2[-2:]) for i, j in batch)
        assert len(batch) <= 4
        if s1 == s2 and len(batch) % 2 == 0:  # symmetrized: (a, b), (b, a), ... so a model may encode once
            assert all(batch[k] == batch[k + 1][::-1] for k in range(0, len(batch), 2))
    assert sorted(p for c in model.calls for p in c["pairs"]) == sorted((a.idx, b.idx) for a, b in pairs)


def test_results_are_detached_cpu_float32_and_batches_do_not_accumulate():
    scene = KnownScene([(8, 12)] * 4)
    model = FakePairModel(scene)
    preds = run_pairs(model, make_pairs(scene.views(), "complete"), batch_size=2, progress=False)
    assert all(c["leaked"] == 0 for c in model.calls)  # the previous batch's outputs were freed
    for pred in preds:
        for t in (pred.pts_i, pred.conf_i, pred.pts_j, pred.conf_j):
            assert t.device.type == "cpu" and t.dtype == torch.float32
            assert not t.requires_grad and not t.is_inference()
            assert t.untyped_storage().nbytes() == t.numel() * 4  # owns its storage, not a batch
    # Plain tensors: usable in autograd by the alignment.
    weight = torch.ones((), requires_grad=True)
    (preds[0].conf_i * preds[0].pts_i[..., 2] * weight).sum().backward()
    assert weight.grad is not None


def test_autocast_device_argument_and_progress(capsys):
    scene = KnownScene([(8, 12)] * 3)
    model = FakePairModel(scene)
    preds = run_pairs(model, make_pairs(scene.views(), "complete"), batch_size=8, device="cpu",
                      amp_dtype=torch.bfloat16, progress=True)
    assert model.calls[0]["autocast"] and model.calls[0]["device"] == torch.device("cpu")
    assert all(p.pts_i.dtype == torch.float32 for p in preds)
    assert "pair inference" in capsys.readouterr().err


def test_model_without_parameters_runs_on_cpu():
    scene = KnownScene([(8, 12)] * 2)
    model = FakePairModel(scene)
    del model.scale
    preds = run_pairs(model, make_pairs(scene.views(), "complete"), progress=False)
    assert len(preds) == 2 and model.calls[0]["device"] == torch.device("cpu")


def test_bad_model_outputs_and_batch_size_raise():
    scene = KnownScene([(8, 12)] * 2)
    pairs = make_pairs(scene.views(), "complete")

    class Missing(nn.Module):
        def forward(self, view1, view2):
            return {"pts3d": torch.zeros(1, 8, 12, 3), "conf": torch.ones(1, 8, 12)}, {"conf": torch.ones(1, 8, 12)}

    with pytest.raises(ValueError, match="pts3d_in_other_view"):
        run_pairs(Missing(), pairs, progress=False)

    class WrongShape(nn.Module):
        def forward(self, view1, view2):
            b = len(view1["instance"])
            return ({"pts3d": torch.zeros(b, 12, 8, 3), "conf": torch.ones(b, 12, 8)},
                    {"pts3d_in_other_view": torch.zeros(b, 8, 12, 3), "conf": torch.ones(b, 8, 12)})

    with pytest.raises(ValueError, match=r"expected \(8, 12, 3\)"):
        run_pairs(WrongShape(), pairs, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        run_pairs(FakePairModel(scene), pairs, batch_size=0)


def test_group_pairs_splits_by_shape_and_size():
    scene = KnownScene([(8, 12), (8, 12), (12, 8)])
    views = scene.views()
    pairs = make_pairs(views, "complete")  # (1,0), (2,0), (2,1), (0,1), (0,2), (1,2)
    batches = group_pairs(pairs, batch_size=8)
    assert sorted(k for b in batches for k in b) == list(range(6))
    assert sorted(len(b) for b in batches) == [2, 2, 2]
    assert [0, 3] in batches  # (1,0) next to its reverse (0,1)


def test_real_tiny_model_batched_equals_one_pair_at_a_time():
    from recon3r.models import AsymmetricCroCo3DStereo

    torch.manual_seed(0)
    model = AsymmetricCroCo3DStereo(
        output_mode="pts3d", head_type="linear", patch_embed_cls="PatchEmbedDust3R", img_size=(32, 32),
        enc_embed_dim=32, enc_depth=1, enc_num_heads=2, dec_embed_dim=32, dec_depth=1, dec_num_heads=2,
        landscape_only=False, pos_embed="RoPE100", depth_mode=("exp", -math.inf, math.inf),
        conf_mode=("exp", 1, math.inf),
    ).eval()
    shapes = [(32, 48), (48, 32), (32, 48), (32, 48)]
    views = KnownScene(shapes).views()
    for v in views:
        v.img = torch.rand_like(v.img) * 2 - 1
    pairs = make_pairs(views, "complete")
    batched = run_pairs(model, pairs, batch_size=4, progress=False)
    single = run_pairs(model, pairs, batch_size=1, progress=False)
    for a, b, (v1, v2) in zip(batched, single, pairs):
        assert (a.i, a.j) == (v1.idx, v2.idx) and tuple(a.pts_j.shape) == (v2.height, v2.width, 3)
        torch.testing.assert_close(a.pts_i, b.pts_i, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.conf_j, b.conf_j, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        res1, res2 = model(pairs[0][0].as_model_input(), pairs[0][1].as_model_input())
    torch.testing.assert_close(batched[0].pts_i, res1["pts3d"][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched[0].pts_j, res2["pts3d_in_other_view"][0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config", ["tiny_linear", "tiny_dpt"])
def test_each_image_is_encoded_once_for_all_the_pairs_of_a_graph(config):
    from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo

    torch.manual_seed(0)
    model = AsymmetricCroCo3DStereo(**{**TINY_CONFIGS[config], "landscape_only": False}).eval()  # inference layout
    gen = torch.Generator().manual_seed(1)
    shapes = [(32, 48), (32, 48), (48, 32), (32, 48), (48, 32)] if config == "tiny_linear" else [(32, 48)] * 5
    views = [View(img=torch.rand(1, 3, h, w, generator=gen) * 2 - 1, true_shape=torch.tensor([[h, w]]), idx=i,
                  instance=str(i), name=f"im{i}.png", transform=None) for i, (h, w) in enumerate(shapes)]
    pairs = make_pairs(views, graph="complete", symmetrize=True)  # 20 pairs, every image in 8 of them
    encoded = []
    encode_image = model.encode_image

    def counting_encode_image(img, true_shape):
        encoded.append(img.shape[0])
        return encode_image(img, true_shape)

    model.encode_image = counting_encode_image
    predictions = run_pairs(model, pairs, batch_size=3, progress=False)
    assert sum(encoded) == len(views)  # the reference encodes 20 (10 with its symmetrized-batch shortcut)
    del model.encode_image
    with torch.no_grad():
        for (a, b), pred in zip(pairs, predictions):
            res1, res2 = model({"img": a.img, "true_shape": a.true_shape}, {"img": b.img, "true_shape": b.true_shape})
            for ours, theirs in ((pred.pts_i, res1["pts3d"][0]), (pred.conf_i, res1["conf"][0]),
                                 (pred.pts_j, res2["pts3d_in_other_view"][0]), (pred.conf_j, res2["conf"][0])):
                torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_a_model_with_its_own_forward_is_called_as_a_whole():
    from recon3r.inference import encodes_images_once
    from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo

    class OwnForward(AsymmetricCroCo3DStereo):
        def forward(self, view1, view2):
            return super().forward(view1, view2)

    plain = AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_linear"])
    assert encodes_images_once(plain) and not encodes_images_once(OwnForward(**TINY_CONFIGS["tiny_linear"]))
    plain.forward = plain.forward  # wrapped on the instance (a spy): respected
    assert not encodes_images_once(plain)
