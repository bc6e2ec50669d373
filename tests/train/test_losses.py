import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from recon3r.errors import ConfigError
from recon3r.geometry import apply_transform, depth_to_points, invert_transform, make_transform
from recon3r.train.losses import L21, LOSSES, ConfLoss, Regr3D, Regr3D_ScaleShiftInv
from recon3r.utils.spec import parse_spec

CONF_SPEC = "ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)"
REGR_SPEC = "Regr3D(L21, norm_mode='avg_dis')"
SSI_SPEC = "Regr3D_ScaleShiftInv(L21, gt_scale=True)"


@pytest.fixture(scope="module")
def golden(shared_path) -> Path:
    return shared_path("golden")


def _load_views(golden: Path, name: str, dtype=torch.float32):
    data = np.load(golden / name)
    views = []
    for view in ("gt1", "gt2", "pred1", "pred2"):
        entries = {}
        for key in data.files:
            if key.startswith(view + "_"):
                value = torch.from_numpy(data[key])
                entries[key[len(view) + 1 :]] = value.to(dtype) if value.is_floating_point() else value
        views.append(entries)
    return views, data


def _random_views(seed: int = 0):
    """(gt1, gt2, pred1, pred2) in float64, laid out as the golden set (B=2, 12×16): points about
    N((0, 0, 4), 1), random rigid cam-to-world poses, ~80 % valid pixels, confidences in [1, 6]."""
    g = torch.Generator().manual_seed(seed)

    def points():
        return torch.randn(2, 12, 16, 3, generator=g, dtype=torch.float64) + torch.tensor([0.0, 0.0, 4.0], dtype=torch.float64)

    def pose():
        rotation, _ = torch.linalg.qr(torch.randn(2, 3, 3, generator=g, dtype=torch.float64))
        rotation = rotation * torch.linalg.det(rotation)[:, None, None]  # proper rotations
        return make_transform(rotation, torch.randn(2, 3, generator=g, dtype=torch.float64))

    def valid():
        return torch.rand(2, 12, 16, generator=g) < 0.8

    def conf():
        return 1 + 5 * torch.rand(2, 12, 16, generator=g, dtype=torch.float64)

    gt1 = {"camera_pose": pose(), "pts3d": points(), "valid_mask": valid()}
    gt2 = {"camera_pose": pose(), "pts3d": points(), "valid_mask": valid()}
    return gt1, gt2, {"pts3d": points(), "conf": conf()}, {"pts3d_in_other_view": points(), "conf": conf()}


def _expected_first_set(golden: Path):
    flat = json.loads((golden / "losses_expected.json").read_text())
    groups = {CONF_SPEC: "confloss", REGR_SPEC: "regr3d", SSI_SPEC: "regr3d_scaleshiftinv"}
    values = {CONF_SPEC: "confloss_regr3d_avgdis_alpha0.2", REGR_SPEC: "regr3d_avgdis", SSI_SPEC: "regr3d_scaleshiftinv_gtscale"}
    out = {}
    for spec, group in groups.items():
        details = {key.split("/", 1)[1]: value for key, value in flat.items() if key.startswith(group + "_detail/")}
        out[spec] = (flat[values[spec]], details)
    return out


def _expected_second_set(golden: Path):
    flat = json.loads((golden / "losses_more_expected.json").read_text())
    names = {CONF_SPEC: "ConfLoss", REGR_SPEC: "Regr3D", SSI_SPEC: "Regr3D_ScaleShiftInv"}
    out = {}
    for spec, name in names.items():
        value = next(v for k, v in flat.items() if k.startswith(name + "(") and not isinstance(v, dict))
        out[spec] = (value, flat[name + "_details"])
    return out


def _assert_matches(result, expected, rtol=1e-5):
    loss, details = result
    value, expected_details = expected
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(value, rel=rtol)
    assert set(details) == set(expected_details)
    for key, expected_value in expected_details.items():
        assert details[key] == pytest.approx(expected_value, rel=rtol), key


@pytest.mark.parametrize("spec", [CONF_SPEC, REGR_SPEC, SSI_SPEC])
def test_losses_parsed_from_criterion_strings_match_reference(golden, spec):
    views, _ = _load_views(golden, "losses.npz")
    loss = parse_spec(spec, LOSSES, what="criterion")
    _assert_matches(loss(*views), _expected_first_set(golden)[spec])


@pytest.mark.parametrize("spec", [CONF_SPEC, REGR_SPEC, SSI_SPEC])
def test_losses_on_consistent_scene_match_reference(golden, spec):
    views, _ = _load_views(golden, "losses_more_inputs.npz")
    _assert_matches(parse_spec(spec, LOSSES)(*views), _expected_second_set(golden)[spec])


@pytest.mark.parametrize("spec", [CONF_SPEC, REGR_SPEC, SSI_SPEC])
def test_losses_in_float64_match_reference(golden, spec):
    views, _ = _load_views(golden, "losses_more_inputs.npz", torch.float64)
    loss, details = parse_spec(spec, LOSSES)(*views)
    assert loss.dtype == torch.float64
    _assert_matches((loss, details), _expected_second_set(golden)[spec])


def test_per_pixel_distances_follow_mask_order(golden):
    views, data = _load_views(golden, "losses_more_inputs.npz")
    loss1, valid1, loss2, valid2, _ = Regr3D(L21).pixel_losses(*views)
    torch.testing.assert_close(loss1, torch.from_numpy(data["confloss_pixel_loss1_valid"]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss2, torch.from_numpy(data["confloss_pixel_loss2_valid"]), rtol=1e-5, atol=1e-6)
    assert torch.equal(valid1, views[0]["valid_mask"]) and torch.equal(valid2, views[1]["valid_mask"])


def test_second_view_pose_is_not_read(golden):
    views, _ = _load_views(golden, "losses_more_inputs.npz")
    before, _ = parse_spec(CONF_SPEC, LOSSES)(*views)
    views[1]["camera_pose"] = torch.full_like(views[1]["camera_pose"], math.nan)
    after, _ = parse_spec(CONF_SPEC, LOSSES)(*views)
    assert torch.equal(before, after)


def test_perfect_prediction_up_to_scale_gives_zero_regression_loss():
    gt1, gt2, pred1, pred2 = _random_views()
    cam1_from_world = invert_transform(gt1["camera_pose"])
    pred1 = {"pts3d": 3.0 * apply_transform(cam1_from_world, gt1["pts3d"]), "conf": pred1["conf"]}
    pred2 = {"pts3d_in_other_view": 3.0 * apply_transform(cam1_from_world, gt2["pts3d"]), "conf": pred2["conf"]}
    for loss in (Regr3D(L21), Regr3D_ScaleShiftInv(L21, gt_scale=True), Regr3D(L21, norm_mode="median_dis")):
        value, _ = loss(gt1, gt2, pred1, pred2)
        assert value.item() == pytest.approx(0.0, abs=1e-9)


def test_world_frame_does_not_matter():
    gt1, gt2, pred1, pred2 = _random_views()
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    world = make_transform(rotation, torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64))
    moved1 = dict(gt1, camera_pose=world @ gt1["camera_pose"], pts3d=apply_transform(world, gt1["pts3d"]))
    moved2 = dict(gt2, pts3d=apply_transform(world, gt2["pts3d"]))
    for loss in (parse_spec(CONF_SPEC, LOSSES), parse_spec(SSI_SPEC, LOSSES)):
        torch.testing.assert_close(loss(moved1, moved2, pred1, pred2)[0], loss(gt1, gt2, pred1, pred2)[0])


def test_scale_shift_invariant_loss_ignores_prediction_scale_and_depth_shift():
    gt1, gt2, pred1, pred2 = _random_views()
    loss = Regr3D_ScaleShiftInv(L21, gt_scale=True)
    shift = torch.tensor([0.0, 0.0, 0.7], dtype=torch.float64)
    moved1 = dict(pred1, pts3d=2.5 * pred1["pts3d"] + shift)
    moved2 = dict(pred2, pts3d_in_other_view=2.5 * pred2["pts3d_in_other_view"] + shift)
    torch.testing.assert_close(loss(gt1, gt2, moved1, moved2)[0], loss(gt1, gt2, pred1, pred2)[0])
    plain = Regr3D(L21)(gt1, gt2, moved1, moved2)[0]
    assert not torch.allclose(plain, Regr3D(L21)(gt1, gt2, pred1, pred2)[0])


def test_conf_loss_weights_pixel_losses_and_backpropagates():
    gt1, gt2, pred1, pred2 = _random_views()
    pred1 = {k: v.clone().requires_grad_(True) for k, v in pred1.items()}
    pred2 = {k: v.clone().requires_grad_(True) for k, v in pred2.items()}
    loss = ConfLoss(Regr3D(L21), alpha=0.2)
    value, details = loss(gt1, gt2, pred1, pred2)
    loss1, valid1, loss2, valid2, _ = Regr3D(L21).pixel_losses(gt1, gt2, pred1, pred2)
    conf1, conf2 = pred1["conf"][valid1], pred2["conf"][valid2]
    expected1 = (loss1 * conf1 - 0.2 * conf1.log()).mean()
    expected2 = (loss2 * conf2 - 0.2 * conf2.log()).mean()
    torch.testing.assert_close(value, expected1 + expected2)
    assert details["conf_loss_1"] == pytest.approx(expected1.item())
    value.backward()
    for tensor in (pred1["pts3d"], pred1["conf"], pred2["pts3d_in_other_view"], pred2["conf"]):
        assert tensor.grad is not None and tensor.grad.isfinite().all() and tensor.grad.abs().sum() > 0


def test_no_valid_pixels_gives_zero_loss():
    gt1, gt2, pred1, pred2 = _random_views()
    gt1 = dict(gt1, valid_mask=torch.zeros_like(gt1["valid_mask"]))
    gt2 = dict(gt2, valid_mask=torch.zeros_like(gt2["valid_mask"]))
    for spec in (CONF_SPEC, REGR_SPEC):
        value, _ = parse_spec(spec, LOSSES)(gt1, gt2, pred1, pred2)
        assert value.item() == 0.0


def test_view2_points_in_own_frame_with_pose_equal_points_in_other_view():
    gt1, gt2, pred1, pred2 = _random_views()
    cam2_to_cam1 = invert_transform(gt1["camera_pose"]) @ gt2["camera_pose"]
    own = {"pts3d": apply_transform(invert_transform(cam2_to_cam1), pred2["pts3d_in_other_view"]), "camera_pose": cam2_to_cam1}
    reference, _ = Regr3D(L21)(gt1, gt2, pred1, pred2)
    torch.testing.assert_close(Regr3D(L21)(gt1, gt2, pred1, dict(own, conf=pred2["conf"]))[0], reference)
    with pytest.raises(KeyError, match="camera_pose"):
        Regr3D(L21)(gt1, gt2, pred1, {"pts3d": own["pts3d"]})
    with pytest.raises(KeyError, match="pts3d_in_other_view"):
        Regr3D(L21)(gt1, gt2, pred1, {"conf": pred2["conf"]})


def test_depth_and_pseudo_focal_predictions_are_unprojected():
    gt1, gt2, pred1, pred2 = _random_views()
    depth = 1 + torch.rand(2, 12, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    intrinsics = torch.tensor([[20.0, 0, 7.0], [0, 20.0, 5.5], [0, 0, 1]], dtype=torch.float64).repeat(2, 1, 1)
    as_points = {"pts3d": depth_to_points(depth, intrinsics)}
    as_depth = {"depth": depth, "pseudo_focal": torch.full_like(depth, 20.0)}
    gt1 = dict(gt1, camera_intrinsics=intrinsics)
    torch.testing.assert_close(Regr3D(L21)(gt1, gt2, as_depth, pred2)[0], Regr3D(L21)(gt1, gt2, as_points, pred2)[0])


def test_combined_losses_from_operators():
    views = _random_views()
    combined = parse_spec(f"0.5 * {REGR_SPEC} + {SSI_SPEC}", LOSSES, allow_operators=True)
    value, details = combined(*views)
    regr, regr_details = parse_spec(REGR_SPEC, LOSSES)(*views)
    ssi, ssi_details = parse_spec(SSI_SPEC, LOSSES)(*views)
    torch.testing.assert_close(value, 0.5 * regr + ssi)
    assert details == regr_details | ssi_details
    doubled, _ = (2 * combined)(*views)
    torch.testing.assert_close(doubled, 2 * value)


def test_repr_is_a_criterion_string_that_parses_back():
    for spec in (CONF_SPEC, SSI_SPEC, f"0.5 * {REGR_SPEC} + {CONF_SPEC}"):
        loss = parse_spec(spec, LOSSES, allow_operators=True)
        assert repr(parse_spec(repr(loss), LOSSES, allow_operators=True)) == repr(loss)
    assert repr(parse_spec(CONF_SPEC, LOSSES)) == "ConfLoss(Regr3D(L21, norm_mode='avg_dis', gt_scale=False), alpha=0.2)"


def test_bad_criteria_raise_clear_errors():
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        parse_spec("ConfLoss(Regr3D(L21), alpha=0)", LOSSES)
    with pytest.raises(ConfigError, match="unknown norm_mode 'avg'"):
        parse_spec("Regr3D(L21, norm_mode='avg')", LOSSES)
    with pytest.raises(ConfigError, match="point criterion"):
        parse_spec("Regr3D('L21')", LOSSES)
    with pytest.raises(ConfigError, match="Regr3D-family"):
        parse_spec("ConfLoss(L21)", LOSSES)
    with pytest.raises(ConfigError, match="unknown name 'L1'"):
        parse_spec("Regr3D(L1)", LOSSES)
    with pytest.raises(ValueError, match="matching"):
        L21(torch.rand(4, 3), torch.rand(4, 2))
