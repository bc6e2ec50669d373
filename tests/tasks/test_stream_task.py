"""The stream task: sequence batches for the official Point3R forward, Point3R's criterion, held-out metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recon3r.data import Procedural
from recon3r.errors import ConfigError
from recon3r.geometry.rotations import pose_encoding_to_world_from_cam, quaternion_to_rotation
from recon3r.models.point3r import Point3R
from recon3r.tasks import task_for
from recon3r.tasks.stream import StreamTask, sequence_abs_rel
from recon3r.tasks.stream_losses import ConfLoss, Regr3DPose, world_from_cam_to_pose_encoding
from recon3r.train.losses import L21
from recon3r.train.trainer import build_criterion


def _sequences(num_views=3, resolution=(48, 32)):
    return Procedural(scenes=2, views=4, kind="sequence", size=48, num_views=num_views, resolution=resolution)


def _unit_quaternions(count: int, generator: torch.Generator) -> torch.Tensor:
    q = torch.randn(count, 4, generator=generator, dtype=torch.float64)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[:, :1] < 0, -q, q)


def _pose(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return pose_encoding_to_world_from_cam(torch.cat((t, q), dim=-1))


def _stream(T=3, B=2, H=4, W=5, seed=0):
    """Random GT views (frame 0's pose arbitrary) with known frame-0-relative poses, and predictions."""
    g = torch.Generator().manual_seed(seed)
    cam0 = _pose(_unit_quaternions(B, g), torch.randn(B, 3, generator=g, dtype=torch.float64))
    rel_q = torch.cat([torch.tensor([[1.0, 0, 0, 0]] * B, dtype=torch.float64)]
                      + [_unit_quaternions(B, g) for _ in range(T - 1)]).reshape(T, B, 4)
    rel_t = torch.cat([torch.zeros(1, B, 3, dtype=torch.float64), torch.randn(T - 1, B, 3, generator=g,
                                                                             dtype=torch.float64)])
    views, preds = [], []
    for t in range(T):
        pose = cam0 @ _pose(rel_q[t], rel_t[t])
        valid = torch.rand(B, H, W, generator=g) > 0.2
        views.append({"camera_pose": pose, "pts3d": torch.randn(B, H, W, 3, generator=g, dtype=torch.float64) * 3,
                      "valid_mask": valid})
        preds.append({"pts3d_in_self_view": torch.randn(B, H, W, 3, generator=g, dtype=torch.float64),
                      "conf_self": 1 + torch.rand(B, H, W, generator=g, dtype=torch.float64) * 3,
                      "pts3d_in_other_view": torch.randn(B, H, W, 3, generator=g, dtype=torch.float64),
                      "conf": 1 + torch.rand(B, H, W, generator=g, dtype=torch.float64) * 3,
                      "camera_pose": torch.cat((torch.randn(B, 3, generator=g, dtype=torch.float64),
                                                _unit_quaternions(B, g)), dim=-1)})
    return views, preds, torch.cat((rel_t, rel_q), dim=-1).transpose(0, 1)  # (B, T, 7)


def _reference_conf_loss(views, preds, gt_pose, alpha):
    """CUT3R's ConfLoss(Regr3DPose(L21, norm_mode='avg_dis')) written out with loops, in numpy float64."""
    T, B = len(views), len(views[0]["pts3d"])
    n = {k: [{key: np.asarray(v[key]) for key in v} for v in seq] for k, seq in (("gt", views), ("pr", preds))}
    gt_maps, pr_maps, weights = {}, {}, {}
    for b in range(B):
        cam0 = n["gt"][0]["camera_pose"][b]
        for t in range(T):
            pose, pts = n["gt"][t]["camera_pose"][b], n["gt"][t]["pts3d"][b]
            gt_maps["self", t, b] = (pts - pose[:3, 3]) @ pose[:3, :3]
            gt_maps["world", t, b] = (pts - cam0[:3, 3]) @ cam0[:3, :3]
            pr_maps["self", t, b] = n["pr"][t]["pts3d_in_self_view"][b]
            pr_maps["world", t, b] = n["pr"][t]["pts3d_in_other_view"][b]
            weights["self", t, b] = np.maximum(np.log(n["pr"][t]["conf_self"][b]), 1e-3)
            weights["world", t, b] = np.maximum(np.log(n["pr"][t]["conf"][b]), 1e-3)
    scales = {}
    for side, maps in (("gt", gt_maps), ("pr", pr_maps)):
        for b in range(B):
            num = den = 0.0
            for kind in ("self", "world"):
                for t in range(T):
                    mask = n["gt"][t]["valid_mask"][b]
                    w = weights[kind, t, b][mask]
                    num += (w * np.linalg.norm(maps[kind, t, b][mask], axis=-1)).sum()
                    den += w.sum()
            scales[side, b] = max(num / (den + 1e-8), 1e-3)
    terms = []
    for kind, conf_key in (("self", "conf_self"), ("world", "conf")):
        for t in range(T):
            values = []
            for b in range(B):
                mask = n["gt"][t]["valid_mask"][b]
                dist = np.linalg.norm(pr_maps[kind, t, b][mask] / scales["pr", b]
                                      - gt_maps[kind, t, b][mask] / scales["gt", b], axis=-1)
                conf = n["pr"][t][conf_key][b][mask]
                values.append(dist * conf - alpha * np.log(conf))
            terms.append(np.concatenate(values).mean())
    trans, rot = [], []
    for b in range(B):
        for t in range(T):
            pr = n["pr"][t]["camera_pose"][b]
            gt = np.asarray(gt_pose[b, t])
            trans.append(np.linalg.norm(pr[:3] / scales["pr", b] - gt[:3] / scales["gt", b]))
            rot.append(np.linalg.norm(pr[3:] - gt[3:]))
    pose = np.mean(trans) + np.mean(rot)
    return 2 * np.mean(terms) + 5 * min(pose, 0.3), pose


def test_point3r_trains_through_the_stream_task():
    assert isinstance(task_for(Point3R), StreamTask)


def test_collate_gives_the_official_forward_one_batched_dict_per_frame():
    dataset = _sequences()
    batch = StreamTask().collate([dataset[0], dataset[1]])
    assert len(batch) == 3
    frame = batch[1]
    assert frame["img"].shape == (2, 3, 32, 48) and frame["true_shape"].tolist() == [[32, 48], [32, 48]]
    assert frame["img_mask"].tolist() == [True, True] and frame["camera_pose"].shape == (2, 4, 4)
    assert frame["pts3d"].shape == (2, 32, 48, 3) and frame["valid_mask"].dtype == torch.bool
    torch.testing.assert_close(frame["img"][1], dataset[1][1]["img"])
    with pytest.raises(ConfigError, match="one length"):
        StreamTask().collate([dataset[0], dataset[0][:2]])


def test_samples_off_the_patch_grid_or_of_one_view_are_refused_by_name():
    task = StreamTask()
    task.check_sample(_sequences()[0], "seq")
    with pytest.raises(ConfigError, match=r"seq gives 40x30 frames; a streaming model needs sides that are multiples of 16"):
        task.check_sample(_sequences(resolution=(40, 30))[0], "seq")
    with pytest.raises(ConfigError, match="at least 2"):
        task.check_sample(_sequences(num_views=1)[0], "single")


def test_pose_encoding_inverts_the_models_decoding():
    g = torch.Generator().manual_seed(3)
    q = _unit_quaternions(64, g)
    encoding = torch.cat((torch.randn(64, 3, generator=g, dtype=torch.float64), q), dim=-1)
    back = world_from_cam_to_pose_encoding(pose_encoding_to_world_from_cam(encoding))
    torch.testing.assert_close(back, encoding, atol=1e-12, rtol=0)
    assert bool((back[:, 3] >= 0).all())


def test_conf_loss_matches_a_reference_computation():
    views, preds, gt_pose = _stream()
    loss, details = ConfLoss(Regr3DPose(L21, norm_mode="?avg_dis"), alpha=0.2)(views, preds)
    expected, pose = _reference_conf_loss(views, preds, gt_pose, alpha=0.2)
    assert pose > 0.3  # the clip is active for random predictions
    assert abs(float(loss) - expected) < 1e-9
    assert abs(details["pose_loss"] - pose) < 1e-9


def test_loss_is_zero_for_the_truth_at_any_scale():
    views, preds, gt_pose = _stream(seed=1)
    criterion = build_criterion("Regr3DPose(L21, norm_mode='?avg_dis')", StreamTask().criteria())
    for view, pred, pose in zip(views, preds, gt_pose.transpose(0, 1)):
        cam0_from_world = torch.linalg.inv(views[0]["camera_pose"])
        world_from_cam = view["camera_pose"]
        pred["pts3d_in_self_view"] = 2.5 * torch.einsum("bij,bhwj->bhwi", torch.linalg.inv(world_from_cam)[:, :3, :3],
                                                        view["pts3d"] - world_from_cam[:, None, None, :3, 3])
        pred["pts3d_in_other_view"] = 2.5 * torch.einsum("bij,bhwj->bhwi", cam0_from_world[:, :3, :3],
                                                         view["pts3d"]) + 2.5 * cam0_from_world[:, None, None, :3, 3]
        pred["camera_pose"] = torch.cat((2.5 * pose[:, :3], pose[:, 3:]), dim=-1)
    loss, details = criterion(views, preds)
    assert float(loss) < 1e-9 and details["pose_loss"] < 1e-9


def test_official_criterion_strings_parse_and_write_back():
    criteria = StreamTask().criteria()
    for text in (StreamTask.default_criterion, "ConfLoss(Regr3DPoseBatchList(L21, norm_mode='?avg_dis'), alpha=0.2)",
                 "Regr3DPose(L21, norm_mode='avg_dis', gt_scale=True)"):
        assert repr(build_criterion(text, criteria)) == text
    with pytest.raises(ConfigError, match="unknown norm_mode 'avg'"):
        build_criterion("Regr3DPose(L21, norm_mode='avg')", criteria)
    with pytest.raises(ConfigError, match="ConfLoss for streams wraps Regr3DPose"):
        build_criterion("ConfLoss(L21, alpha=0.2)", criteria)


def test_metrics_are_zero_for_the_truth_and_measure_a_known_rotation_error():
    views, preds, gt_pose = _stream(seed=2)
    for t, (view, pred) in enumerate(zip(views, preds)):
        world_from_cam = view["camera_pose"]
        cam0_from_world = torch.linalg.inv(views[0]["camera_pose"])
        pred["pts3d_in_self_view"] = torch.einsum("bij,bhwj->bhwi", torch.linalg.inv(world_from_cam)[:, :3, :3],
                                                  view["pts3d"] - world_from_cam[:, None, None, :3, 3])
        pred["pts3d_in_other_view"] = torch.einsum("bij,bhwj->bhwi", cam0_from_world[:, :3, :3],
                                                   view["pts3d"]) + cam0_from_world[:, None, None, :3, 3]
        depth = pred["pts3d_in_self_view"][..., 2]
        view["valid_mask"] = view["valid_mask"] & (depth > 0)  # GT depth is positive where valid
        view["depthmap"] = depth.clamp_min(0)
        pred["camera_pose"] = gt_pose[:, t].clone()
    metrics = StreamTask().metrics(views, preds)
    for name in ("self_pts3d_error", "pts3d_error", "depth_abs_rel", "rotation_error_deg", "translation_error"):
        assert metrics[name] < 1e-6, name
    # Rotate every predicted camera (frames 1..T-1) by 10 degrees about its optical axis.
    half = math.radians(10) / 2
    turn = torch.tensor([math.cos(half), 0, 0, math.sin(half)], dtype=torch.float64)
    for pred in preds[1:]:
        rotation = quaternion_to_rotation(pred["camera_pose"][:, 3:]) @ quaternion_to_rotation(turn)
        pred["camera_pose"] = world_from_cam_to_pose_encoding(_pose_matrix(rotation, pred["camera_pose"][:, :3]))
    assert abs(StreamTask().metrics(views, preds)["rotation_error_deg"] - 10.0) < 1e-6


def _pose_matrix(rotation, translation):
    out = torch.eye(4, dtype=rotation.dtype).repeat(len(rotation), 1, 1)
    out[:, :3, :3], out[:, :3, 3] = rotation, translation
    return out


def test_sequence_abs_rel_uses_one_scale_per_sequence():
    gt = [torch.tensor([[[1.0, 2.0]]]), torch.tensor([[[4.0, 8.0]]])]
    valid = [torch.ones(1, 1, 2, dtype=torch.bool)] * 2
    assert sequence_abs_rel([d * 0.5 for d in gt], gt, valid) < 1e-7  # a global scale is free
    off = [gt[0] * 0.5, gt[1] * 0.25]  # frame 1 at another scale: not free
    assert sequence_abs_rel(off, gt, valid) > 0.2
