"""Training losses for pair models: 3D regression in camera 1's frame, with confidence weighting.

Every loss is called as `loss(gt1, gt2, pred1, pred2)` and returns `(loss, details)`: a scalar
tensor and a dict of floats for logging. Inputs are dicts of batched tensors:

- `gt1`, `gt2`: `pts3d` (B, H, W, 3) in the world frame, `valid_mask` (B, H, W) bool, and for
  view 1 `camera_pose` (B, 4, 4) cam-to-world. `gt2['camera_pose']` is never read.
- `pred1`: `pts3d` (B, H, W, 3) in camera 1's frame and `conf` (B, H, W).
- `pred2`: `pts3d_in_other_view` (B, H, W, 3), also in camera 1's frame, and `conf`.
  (Alternatively `pts3d` in camera 2's frame plus `camera_pose`, or `depth` + `pseudo_focal`
  maps for either view; see `predicted_points`.)

Losses are built from criterion strings with `recon3r.utils.spec.parse_spec(text, LOSSES)`,
e.g. `"ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)"`; `repr(loss)` writes such a
string back. `a * loss` and `loss + other` combine losses, as in the reference.

The names, arguments, defaults and detail keys are those of DUSt3R's `dust3r/losses.py`
(`L21`, `Regr3D`, `Regr3D_ShiftInv`, `Regr3D_ScaleInv`, `Regr3D_ScaleShiftInv`, `ConfLoss`),
so reference criterion strings and logs carry over. Its `with_reduction('none')` protocol is
replaced by `Regr3D.pixel_losses`, which `ConfLoss` calls.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from recon3r.errors import ConfigError
from recon3r.geometry.cameras import depth_to_points_with_focal
from recon3r.geometry.pointmaps import (
    NORM_MODES,
    joint_center_and_scale,
    joint_depth_quantile,
    normalize_pointmaps,
)
from recon3r.geometry.transforms import apply_transform, invert_transform

Views = dict[str, Tensor]
Details = dict[str, float]


# --- point criteria ------------------------------------------------------------------------------


class PointCriterion(nn.Module):
    """A distance between corresponding points; `forward` averages it."""

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        """(N, D) → (N,) per-point distance."""
        raise NotImplementedError

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        dist = self.distance(prediction, target)
        return dist.mean() if dist.numel() > 0 else dist.new_zeros(())


class L21Loss(PointCriterion):
    """Euclidean distance per point (an L2 norm, averaged: "L2,1")."""

    def distance(self, prediction: Tensor, target: Tensor) -> Tensor:
        if prediction.shape != target.shape or prediction.ndim < 2 or not 1 <= prediction.shape[-1] <= 3:
            raise ValueError(
                f"expected matching (..., D) points with D <= 3, got {tuple(prediction.shape)} and {tuple(target.shape)}"
            )
        return (prediction - target).norm(dim=-1)

    def __repr__(self) -> str:
        return "L21"


L21 = L21Loss()


# --- composable pair losses --------------------------------------------------------------------------


class PairLoss(nn.Module):
    """Base class: `forward(gt1, gt2, pred1, pred2) -> (scalar loss, details)`."""

    def __mul__(self, weight: float) -> CombinedLoss:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            return NotImplemented
        return CombinedLoss([(float(weight), self)])

    __rmul__ = __mul__

    def __add__(self, other: PairLoss) -> CombinedLoss:
        if not isinstance(other, PairLoss):
            return NotImplemented
        return CombinedLoss([*_terms(self), *_terms(other)])


def _terms(loss: PairLoss) -> list[tuple[float, PairLoss]]:
    return list(loss.terms) if isinstance(loss, CombinedLoss) else [(1.0, loss)]


class CombinedLoss(PairLoss):
    """Weighted sum of pair losses; details are merged (later terms win on equal keys)."""

    def __init__(self, terms: list[tuple[float, PairLoss]]):
        super().__init__()
        self.terms = [(weight, loss) for weight, loss in terms]
        self.losses = nn.ModuleList(loss for _, loss in terms)

    def __mul__(self, weight: float) -> CombinedLoss:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            return NotImplemented
        return CombinedLoss([(weight * w, loss) for w, loss in self.terms])

    __rmul__ = __mul__

    def forward(self, gt1: Views, gt2: Views, pred1: Views, pred2: Views) -> tuple[Tensor, Details]:
        total: Tensor | None = None
        details: Details = {}
        for weight, loss in self.terms:
            value, term_details = loss(gt1, gt2, pred1, pred2)
            total = weight * value if total is None else total + weight * value
            details |= term_details
        return total, details

    def __repr__(self) -> str:
        return " + ".join(repr(loss) if w == 1 else f"{w!r} * {loss!r}" for w, loss in self.terms)


# --- 3D regression -------------------------------------------------------------------------------


class AlignedPoints(NamedTuple):
    """Points of both views in a common frame, ready to compare (B, H, W, 3) + masks (B, H, W)."""

    gt1: Tensor
    gt2: Tensor
    pred1: Tensor
    pred2: Tensor
    valid1: Tensor
    valid2: Tensor


def predicted_points(gt: Views, pred: Views, *, other_view: bool) -> Tensor:
    """Predicted (B, H, W, 3) points of one view, in camera 1's frame.

    `pred` holds `pts3d_in_other_view` (view 2, used as is), `pts3d`, or `depth` (B, H, W)
    with `pseudo_focal` maps (principal point from `gt['camera_intrinsics']` if given).
    For view 2 (`other_view=True`) the latter two are in camera 2's frame and need
    `pred['camera_pose']` (B, 4, 4), camera 2 to camera 1.
    """
    if other_view and "pts3d_in_other_view" in pred:
        return pred["pts3d_in_other_view"]
    if "depth" in pred and "pseudo_focal" in pred:
        intrinsics = gt.get("camera_intrinsics")
        principal_point = None if intrinsics is None else intrinsics[..., :2, 2]
        points = depth_to_points_with_focal(pred["depth"], pred["pseudo_focal"], principal_point)
    elif "pts3d" in pred:
        points = pred["pts3d"]
    else:
        wanted = "'pts3d_in_other_view', 'pts3d'" if other_view else "'pts3d'"
        raise KeyError(f"prediction has none of {wanted} or 'depth' + 'pseudo_focal' (keys: {sorted(pred)})")
    if other_view:
        if "camera_pose" not in pred:
            raise KeyError("a view-2 prediction given in its own frame needs 'camera_pose' (camera 2 to camera 1)")
        points = apply_transform(pred["camera_pose"], points)
    return points


class Regr3D(PairLoss):
    """Regression of both views' points in camera 1's frame, after joint scale normalisation.

    Args:
        criterion: per-point distance, e.g. `L21`.
        norm_mode: `avg_dis` or `median_dis` (see `normalize_pointmaps`); None or "" to
            compare raw points. Predictions are always normalised.
        gt_scale: keep the ground truth at its metric scale instead of normalising it too.
    """

    def __init__(self, criterion: PointCriterion, norm_mode: str | None = "avg_dis", gt_scale: bool = False):
        super().__init__()
        if not isinstance(criterion, PointCriterion):
            raise TypeError(f"criterion must be a point criterion such as L21, got {criterion!r}")
        if norm_mode and norm_mode not in NORM_MODES:
            raise ConfigError(f"unknown norm_mode {norm_mode!r} for {type(self).__name__}; expected one of {NORM_MODES}")
        self.criterion = criterion
        self.norm_mode = norm_mode
        self.gt_scale = bool(gt_scale)

    def aligned_points(self, gt1: Views, gt2: Views, pred1: Views, pred2: Views) -> AlignedPoints:
        """Ground truth moved to camera 1's frame; predictions and (unless gt_scale) truth normalised."""
        # closed-form rigid inverse: closer to the exact result in float32 than a general LU inverse
        cam1_from_world = invert_transform(gt1["camera_pose"])
        gt_pts1 = apply_transform(cam1_from_world, gt1["pts3d"])
        gt_pts2 = apply_transform(cam1_from_world, gt2["pts3d"])
        valid1, valid2 = gt1["valid_mask"].bool(), gt2["valid_mask"].bool()
        pr_pts1 = predicted_points(gt1, pred1, other_view=False)
        pr_pts2 = predicted_points(gt2, pred2, other_view=True)
        if self.norm_mode:
            (pr_pts1, pr_pts2), _ = normalize_pointmaps([pr_pts1, pr_pts2], [valid1, valid2], mode=self.norm_mode)
            if not self.gt_scale:
                (gt_pts1, gt_pts2), _ = normalize_pointmaps([gt_pts1, gt_pts2], [valid1, valid2], mode=self.norm_mode)
        return AlignedPoints(gt_pts1, gt_pts2, pr_pts1, pr_pts2, valid1, valid2)

    def pixel_losses(
        self, gt1: Views, gt2: Views, pred1: Views, pred2: Views
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Details]:
        """Per-pixel distances over the valid pixels: (loss1 (N1,), valid1, loss2 (N2,), valid2, details).

        Distances follow the boolean-mask order of `valid1` / `valid2` (B, H, W).
        """
        pts = self.aligned_points(gt1, gt2, pred1, pred2)
        loss1 = self.criterion.distance(pts.pred1[pts.valid1], pts.gt1[pts.valid1])
        loss2 = self.criterion.distance(pts.pred2[pts.valid2], pts.gt2[pts.valid2])
        name = type(self).__name__
        details = {f"{name}_pts3d_1": float(loss1.detach().mean()), f"{name}_pts3d_2": float(loss2.detach().mean())}
        return loss1, pts.valid1, loss2, pts.valid2, details

    def forward(self, gt1: Views, gt2: Views, pred1: Views, pred2: Views) -> tuple[Tensor, Details]:
        loss1, _, loss2, _, details = self.pixel_losses(gt1, gt2, pred1, pred2)
        return _mean_or_zero(loss1) + _mean_or_zero(loss2), details

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.criterion!r}, norm_mode={self.norm_mode!r}, gt_scale={self.gt_scale!r})"


def _mean_or_zero(values: Tensor) -> Tensor:
    return values.mean() if values.numel() > 0 else values.new_zeros(())


class Regr3D_ShiftInv(Regr3D):  # noqa: N801 (reference name)
    """`Regr3D`, then each point set shifted so its joint median depth (z) is zero."""

    def aligned_points(self, gt1: Views, gt2: Views, pred1: Views, pred2: Views) -> AlignedPoints:
        pts = super().aligned_points(gt1, gt2, pred1, pred2)
        masks = [pts.valid1, pts.valid2]
        gt_shift = joint_depth_quantile([pts.gt1[..., 2], pts.gt2[..., 2]], masks)
        pred_shift = joint_depth_quantile([pts.pred1[..., 2], pts.pred2[..., 2]], masks)
        return pts._replace(
            gt1=_shift_depth(pts.gt1, gt_shift),
            gt2=_shift_depth(pts.gt2, gt_shift),
            pred1=_shift_depth(pts.pred1, pred_shift),
            pred2=_shift_depth(pts.pred2, pred_shift),
        )


def _shift_depth(points: Tensor, shift: Tensor) -> Tensor:
    return torch.cat([points[..., :2], points[..., 2:] - shift.reshape(-1, 1, 1, 1)], dim=-1)


class Regr3D_ScaleInv(Regr3D):  # noqa: N801 (reference name)
    """`Regr3D`, then scale-invariant: each point set measured by its median distance to its median.

    With `gt_scale`, predictions are rescaled to the truth's scale; otherwise both are
    divided by their own scale. The predicted scale is clipped to [1e-3, 1e3].
    """

    def aligned_points(self, gt1: Views, gt2: Views, pred1: Views, pred2: Views) -> AlignedPoints:
        pts = super().aligned_points(gt1, gt2, pred1, pred2)
        masks = [pts.valid1, pts.valid2]
        _, gt_scale = joint_center_and_scale([pts.gt1, pts.gt2], masks)
        _, pred_scale = joint_center_and_scale([pts.pred1, pts.pred2], masks)
        pred_scale = pred_scale.clamp(1e-3, 1e3)
        if self.gt_scale:
            ratio = gt_scale / pred_scale
            return pts._replace(pred1=pts.pred1 * ratio, pred2=pts.pred2 * ratio)
        return pts._replace(
            gt1=pts.gt1 / gt_scale, gt2=pts.gt2 / gt_scale, pred1=pts.pred1 / pred_scale, pred2=pts.pred2 / pred_scale
        )


class Regr3D_ScaleShiftInv(Regr3D_ScaleInv, Regr3D_ShiftInv):  # noqa: N801 (reference name)
    """Shift-invariant first (median depth), then scale-invariant (`Regr3D_ScaleInv`)."""


# --- confidence ----------------------------------------------------------------------------------------


class ConfLoss(PairLoss):
    """Confidence-weighted pixel loss: mean(conf·loss − alpha·log conf) per view, summed.

    Args:
        pixel_loss: a `Regr3D`-family loss (its per-pixel distances are weighted).
        alpha: weight of the −log(conf) term that keeps confidences from collapsing; > 0.
    """

    def __init__(self, pixel_loss: Regr3D, alpha: float = 1.0):
        super().__init__()
        if not isinstance(pixel_loss, Regr3D):
            raise TypeError(f"pixel_loss must be a Regr3D-family loss, got {pixel_loss!r}")
        if not alpha > 0:
            raise ConfigError(f"ConfLoss alpha must be > 0, got {alpha!r}")
        self.pixel_loss = pixel_loss
        self.alpha = alpha

    def forward(self, gt1: Views, gt2: Views, pred1: Views, pred2: Views) -> tuple[Tensor, Details]:
        loss1, valid1, loss2, valid2, details = self.pixel_loss.pixel_losses(gt1, gt2, pred1, pred2)
        conf_loss1 = self._weighted(loss1, pred1["conf"][valid1])
        conf_loss2 = self._weighted(loss2, pred2["conf"][valid2])
        return conf_loss1 + conf_loss2, {"conf_loss_1": float(conf_loss1.detach()), "conf_loss2": float(conf_loss2.detach()), **details}

    def _weighted(self, loss: Tensor, conf: Tensor) -> Tensor:
        return _mean_or_zero(loss * conf - self.alpha * torch.log(conf))

    def __repr__(self) -> str:
        return f"ConfLoss({self.pixel_loss!r}, alpha={self.alpha!r})"


#: Names a criterion string may use (`parse_spec(text, namespace=LOSSES)`).
LOSSES: dict[str, object] = {
    "L21": L21,
    "L21Loss": L21Loss,
    "Regr3D": Regr3D,
    "Regr3D_ShiftInv": Regr3D_ShiftInv,
    "Regr3D_ScaleInv": Regr3D_ScaleInv,
    "Regr3D_ScaleShiftInv": Regr3D_ScaleShiftInv,
    "ConfLoss": ConfLoss,
}
