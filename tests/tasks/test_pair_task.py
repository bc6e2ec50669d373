"""The pair task: held-out focal error of every pair model, and the caption diagnostics and
auxiliary caption-focal loss of models that read captions."""

from __future__ import annotations

import math

import torch
from torch.utils.data import default_collate

from recon3r.data import Procedural
from recon3r.geometry.cameras import depth_to_points
from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo
from recon3r.models.dust3r_text import AsymmetricCroCo3DStereoAndText
from recon3r.tasks import task_for
from recon3r.tasks.pair import caption_focal_target, with_captions_scaled
from recon3r.train.losses import L21, Regr3D


def _batch(pairs: int = 2):
    data = Procedural(scenes=2, views=2, size=48, resolution=(48, 32), split="test")
    return default_collate([data[i] for i in range(pairs)])


def test_focal_error_is_zero_on_the_true_pointmaps_and_grows_with_a_wrong_focal():
    view1, view2 = batch = _batch()
    task = task_for(AsymmetricCroCo3DStereo)
    task.configure(AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_linear"]))
    exact = {"pts3d": depth_to_points(view1["depthmap"], view1["camera_intrinsics"])}  # view 1's camera frame
    details = task.metrics(batch, (exact, {}))
    assert set(details) == {"focal_err"} and details["focal_err"] < 1e-4
    stretched = exact["pts3d"].clone()
    stretched[..., 2] *= 1.25  # z × 1.25: the pointmap of a focal × 1.25
    assert math.isclose(task.metrics(batch, ({"pts3d": stretched}, {}))["focal_err"], 0.25, rel_tol=1e-3)


def test_caption_model_metrics_rerun_it_with_wrong_and_missing_captions():
    torch.manual_seed(0)
    model = AsymmetricCroCo3DStereoAndText(**AsymmetricCroCo3DStereoAndText.tiny_config).eval()
    with torch.no_grad():
        model.caption_gates.fill_(2.0)  # open
    task = task_for(model)
    task.configure(model)
    batch = _batch()
    seen = []
    original = model.forward
    model.forward = lambda v1, v2: seen.append((list(v1["caption"]), list(v2["caption"]))) or original(v1, v2)
    with torch.no_grad():
        details = task.metrics(batch, model(*batch))
    assert {"focal_err", "focal_err_wrong_caption", "focal_err_no_caption"} <= set(details)
    assert math.isclose(details["caption_gate.view1.layer0.self"], math.tanh(2.0), rel_tol=1e-6)
    true_captions, wrong, missing = seen
    assert all("FocalLength" in c for c in true_captions[0])
    assert wrong[0][0] != true_captions[0][0] and missing == ([""] * 2, [""] * 2)
    assert details["focal_err"] != details["focal_err_no_caption"]  # an open gate: captions change the output
    assert batch[0]["caption"] == true_captions[0]  # the batch itself is left alone
    assert with_captions_scaled(batch[0], None)["img"] is batch[0]["img"]


def test_caption_focal_loss_is_added_for_present_captions_only():
    torch.manual_seed(0)
    model = AsymmetricCroCo3DStereoAndText(**AsymmetricCroCo3DStereoAndText.tiny_config,
                                           caption_focal_weight=2.0).eval()
    task = task_for(model)
    task.configure(model)
    view1, view2 = batch = _batch()
    view2["caption"] = ["", ""]
    criterion = Regr3D(L21, norm_mode="avg_dis")
    with torch.no_grad():
        pred1, pred2 = model(view1, view2)
    loss, details = task.loss(criterion, batch, (pred1, pred2))
    plain, _ = criterion(view1, view2, pred1, pred2)
    expected = (pred1["caption_focal"] - caption_focal_target(view1)).abs().mean()
    assert torch.isnan(pred2["caption_focal"]).all()
    torch.testing.assert_close(loss, plain + 2.0 * expected)
    assert math.isclose(details["caption_focal_loss"], float(expected), rel_tol=1e-6)
    assert "caption_focal_err" in task.metrics(batch, (pred1, pred2))
