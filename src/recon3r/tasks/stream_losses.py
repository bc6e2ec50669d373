"""Streaming losses: Point3R's training criterion (CUT3R's `Regr3DPose` inside `ConfLoss`).

Point3R trains with `ConfLoss(Regr3DPose(L21, norm_mode='?avg_dis'), alpha=0.2)` (stage 1) and
`ConfLoss(Regr3DPoseBatchList(L21, norm_mode='?avg_dis'), alpha=0.2)` (stages 2 and 3); those strings
parse here unchanged (`STREAM_LOSSES`). Losses are called as `loss(views, predictions)`: `views` is the
stream task's batch (T per-frame dicts with `pts3d` (B, H, W, 3) world points, `valid_mask` (B, H, W)
and `camera_pose` (B, 4, 4) cam-to-world), `predictions` the model's T dicts (`pts3d_in_self_view`,
`conf_self`, `pts3d_in_other_view`, `conf` (B, H, W[, 3]) and `camera_pose` (B, 7) [t, q real first]).

What is reproduced (CUT3R `dust3r/losses.py` as vendored by Point3R):
- targets: frame t's points in its own camera frame (self view) and in frame 0's camera frame (world,
  "cross" view); GT poses are frame 0-relative cam-to-world [t, q] with q real-first, real part ≥ 0;
- one scale per sequence and sample for the truth and one for the prediction: the mean distance to the
  origin over every valid pixel of every frame's self and world maps, *weighted by the predicted
  log-confidence* (detached, clipped at 1e-3) for both truth and prediction, then clipped at 1e-3;
  the pose translations are divided by the same factors;
- the per-pixel L21 distances, confidence-weighted per map as DUSt3R does: mean(ℓ·c − α·log c) over
  the valid pixels of a frame (pooled over the batch); the 2T maps are averaged and doubled;
- the pose loss: mean ‖t̂ − t‖ + mean ‖q̂ − q‖ over frames and samples, added as 5·min(pose, 0.3).

What is simplified, because recon3r samples do not carry the flags CUT3R's datasets set:
- no `is_metric` flag: '?' in `norm_mode` is accepted, and every sample is treated as CUT3R treats
  non-metric data (the prediction is normalised by its own scale);
- no sky masks (`sky_loss_value` has nothing to act on), no camera-only, depth-only or single-view
  samples: `Regr3DPoseBatchList` (their per-sample dispatch) is therefore `Regr3DPose`.
`Regr3DPose` used alone (no confidence) returns 2·mean(ℓ) over the maps plus the same pose term.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recon3r.errors import ConfigError
from recon3r.geometry.pointmaps import NORM_MODES, normalize_pointmaps
from recon3r.geometry.transforms import apply_transform, invert_transform
from recon3r.train.losses import L21, PointCriterion

Frames = Sequence[Mapping[str, Tensor]]
#: Floor of the confidence weights and of the normalisation factors (CUT3R's `eps`).
EPS = 1e-3
#: The pose loss is clipped at this value and weighted by POSE_WEIGHT (CUT3R's `ConfLoss`).
POSE_CLIP, POSE_WEIGHT = 0.3, 5.0


def world_from_cam_to_pose_encoding(world_from_cam: Tensor) -> Tensor:
    """(..., 4, 4) rigid cam-to-world → (..., 7) [t, q] with q real part first and ≥ 0 (CUT3R's encoding).

    The inverse of `recon3r.geometry.pose_encoding_to_world_from_cam`.
    """
    from recon3r.align.parametrization import matrix_to_quaternion  # (x, y, z, w), w ≥ 0

    xyzw = matrix_to_quaternion(world_from_cam[..., :3, :3])
    return torch.cat((world_from_cam[..., :3, 3], xyzw[..., 3:], xyzw[..., :3]), dim=-1)


class SequenceTargets(NamedTuple):
    """Targets and predictions of a stream, normalised; lists of T tensors, batch first."""

    gt_self: list[Tensor]  # (B, H, W, 3) frame t's points in its camera frame
    gt_world: list[Tensor]  # (B, H, W, 3) frame t's points in frame 0's camera frame
    pred_self: list[Tensor]
    pred_world: list[Tensor]
    valid: list[Tensor]  # (B, H, W) bool
    gt_pose: Tensor  # (B, T, 7) [t / scale, q]
    pred_pose: Tensor  # (B, T, 7)
    gt_scale: Tensor  # (B,) the normalisation factors
    pred_scale: Tensor


def frame0_targets(views: Frames) -> tuple[list[Tensor], list[Tensor], Tensor]:
    """GT self-view maps, world (frame 0 camera) maps, and (B, T, 4, 4) frame-0-relative poses."""
    cam0_from_world = invert_transform(views[0]["camera_pose"])
    gt_self = [apply_transform(invert_transform(v["camera_pose"]), v["pts3d"]) for v in views]
    gt_world = [apply_transform(cam0_from_world, v["pts3d"]) for v in views]
    poses = torch.stack([cam0_from_world @ v["camera_pose"] for v in views], dim=1)
    return gt_self, gt_world, poses


class Regr3DPose(nn.Module):
    """CUT3R's 3D regression of every frame's self-view and world points, plus its pose loss.

    Args:
        criterion: per-point distance (`L21`).
        norm_mode: 'avg_dis' (confidence-weighted, see the module docstring) or 'median_dis', with an
            optional leading '?' (CUT3R: metric samples keep their scale; see the simplifications);
            '' or None: no normalisation.
        gt_scale: compare at the ground truth's scale (no normalisation of either side).
    """

    def __init__(self, criterion: PointCriterion, norm_mode: str | None = "?avg_dis", gt_scale: bool = False):
        super().__init__()
        if not isinstance(criterion, PointCriterion):
            raise ConfigError(f"{type(self).__name__}: criterion must be a point criterion such as L21, got {criterion!r}")
        mode = (norm_mode or "").lstrip("?")
        if mode and mode not in NORM_MODES:
            raise ConfigError(f"unknown norm_mode {norm_mode!r} for {type(self).__name__}; expected one of "
                              f"{', '.join(NORM_MODES)}, optionally after '?'")
        self.criterion, self.norm_mode, self.mode, self.gt_scale = criterion, norm_mode or "", mode, bool(gt_scale)

    def targets(self, views: Frames, preds: Frames) -> SequenceTargets:
        """Both sides in frame 0's camera frame, each divided by its sequence scale."""
        gt_self, gt_world, poses = frame0_targets(views)
        valid = [v["valid_mask"].bool() for v in views]
        pred_self = [p["pts3d_in_self_view"] for p in preds]
        pred_world = [p["pts3d_in_other_view"] for p in preds]
        batch = len(valid[0])
        ones = torch.ones(batch, dtype=pred_world[0].dtype, device=pred_world[0].device)
        gt_scale = pred_scale = ones
        if self.mode and not self.gt_scale:
            weights = None
            if self.mode == "avg_dis":
                weights = [torch.log(p[key]).detach().clamp_min(EPS) for key in ("conf_self", "conf") for p in preds]
            gt_scale = self._scale(gt_self + gt_world, valid + valid, weights)
            pred_scale = self._scale(pred_self + pred_world, valid + valid, weights)
        gt_pose = world_from_cam_to_pose_encoding(poses)
        pred_pose = torch.stack([p["camera_pose"] for p in preds], dim=1)

        def scaled(maps: list[Tensor], scale: Tensor) -> list[Tensor]:
            return [m / scale[:, None, None, None] for m in maps]

        def scaled_pose(pose: Tensor, scale: Tensor) -> Tensor:
            return torch.cat((pose[..., :3] / scale[:, None, None], pose[..., 3:]), dim=-1)

        return SequenceTargets(scaled(gt_self, gt_scale), scaled(gt_world, gt_scale), scaled(pred_self, pred_scale),
                               scaled(pred_world, pred_scale), valid, scaled_pose(gt_pose, gt_scale),
                               scaled_pose(pred_pose, pred_scale), gt_scale, pred_scale)

    def _scale(self, maps: list[Tensor], valid: list[Tensor], weights: list[Tensor] | None) -> Tensor:
        _, factor = normalize_pointmaps(maps, valid, mode=self.mode, weights=weights)
        return factor.reshape(-1).clamp_min(EPS)

    def pixel_losses(self, views: Frames, preds: Frames) -> tuple[list[tuple[Tensor, Tensor, str, int]], Tensor]:
        """Per-map distances at valid pixels [(ℓ (n,), mask (B, H, W), confidence key, frame)], and the pose loss.

        Self-view maps come first (frames 0..T−1, key `conf_self`), then world maps (key `conf`).
        """
        t = self.targets(views, preds)
        terms = []
        for gts, prs, key in ((t.gt_self, t.pred_self, "conf_self"), (t.gt_world, t.pred_world, "conf")):
            for frame, (gt, pr, mask) in enumerate(zip(gts, prs, t.valid)):
                terms.append((self.criterion.distance(pr[mask], gt[mask]), mask, key, frame))
        return terms, pose_loss(t.pred_pose, t.gt_pose)

    def forward(self, views: Frames, preds: Frames) -> tuple[Tensor, dict[str, float]]:
        terms, pose = self.pixel_losses(views, preds)
        means = [dist.mean() if dist.numel() else dist.new_zeros(()) for dist, *_ in terms]
        loss = torch.stack(means).mean() * 2.0 + pose.clamp(max=POSE_CLIP) * POSE_WEIGHT
        return loss, {**_map_details(type(self).__name__, terms, means), "pose_loss": float(pose.detach())}

    def __repr__(self) -> str:
        args = [repr(self.criterion), f"norm_mode={self.norm_mode!r}"] + (["gt_scale=True"] if self.gt_scale else [])
        return f"{type(self).__name__}({', '.join(args)})"


class Regr3DPoseBatchList(Regr3DPose):
    """CUT3R's per-sample variant (depth-only / single-view samples get their own criteria).

    recon3r samples are all multi-view with full geometry, where it equals `Regr3DPose`.
    """


def pose_loss(pred: Tensor, gt: Tensor) -> Tensor:
    """Mean ‖t̂ − t‖ + mean ‖q̂ − q‖ over (B, T) pose encodings (B, T, 7)."""
    return (pred[..., :3] - gt[..., :3]).norm(dim=-1).mean() + (pred[..., 3:] - gt[..., 3:]).norm(dim=-1).mean()


def _map_details(name: str, terms: list, values: list[Tensor]) -> dict[str, float]:
    """Mean of a per-map quantity over the self-view maps and over the world maps."""
    self_values = [float(v.detach()) for v, (_, _, key, _) in zip(values, terms) if key == "conf_self"]
    world_values = [float(v.detach()) for v, (_, _, key, _) in zip(values, terms) if key == "conf"]
    return {f"{name}_self_pts3d": sum(self_values) / len(self_values),
            f"{name}_pts3d": sum(world_values) / len(world_values)}


class ConfLoss(nn.Module):
    """Confidence-weighted regression (DUSt3R's `ConfLoss`) over a stream's 2T maps, plus the pose term.

    Per map: mean over its valid pixels of ℓ·c − α·log c, with c the map's confidence (`conf_self` for
    self-view maps, `conf` for world maps); the loss is 2 · (mean over maps) + 5 · min(pose loss, 0.3).
    """

    def __init__(self, pixel_loss: Regr3DPose, alpha: float = 1.0):
        super().__init__()
        if not isinstance(pixel_loss, Regr3DPose):
            raise ConfigError(f"ConfLoss for streams wraps Regr3DPose or Regr3DPoseBatchList, got {pixel_loss!r}")
        if not alpha > 0:
            raise ConfigError(f"ConfLoss: alpha must be > 0, got {alpha!r}")
        self.pixel_loss, self.alpha = pixel_loss, float(alpha)

    def forward(self, views: Frames, preds: Frames) -> tuple[Tensor, dict[str, float]]:
        terms, pose = self.pixel_loss.pixel_losses(views, preds)
        conf_losses, regressions = [], []
        for dist, mask, key, frame in terms:
            conf = preds[frame][key][mask]
            value = dist * conf - self.alpha * torch.log(conf)
            conf_losses.append(value.mean() if value.numel() else value.new_zeros(()))
            regressions.append(dist.mean() if dist.numel() else dist.new_zeros(()))
        loss = torch.stack(conf_losses).mean() * 2.0 + pose.clamp(max=POSE_CLIP) * POSE_WEIGHT
        conf_details = _map_details("conf_loss", terms, conf_losses)
        details = {**_map_details(type(self.pixel_loss).__name__, terms, regressions),
                   "conf_loss_self": conf_details["conf_loss_self_pts3d"], "conf_loss": conf_details["conf_loss_pts3d"],
                   "pose_loss": float(pose.detach())}
        return loss, details

    def __repr__(self) -> str:
        return f"ConfLoss({self.pixel_loss!r}, alpha={self.alpha!r})"


#: The names a stream criterion spec may use (`--train_criterion`).
STREAM_LOSSES: dict[str, Any] = {
    "L21": L21,
    "Regr3DPose": Regr3DPose,
    "Regr3DPoseBatchList": Regr3DPoseBatchList,
    "ConfLoss": ConfLoss,
}
