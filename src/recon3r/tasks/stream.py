"""The streaming task (Point3R): a sequence of K ≥ 2 frames in, per-frame pointmaps and poses out.

Samples are K consecutive views of a scene (e.g. `Procedural(kind='sequence', num_views=K)` or any
recon3r-format folder read by `MultiView(ROOT=..., num_views=K)`). The batch is what the official
Point3R forward takes, one dict per frame with the samples stacked: `img` (B, 3, H, W) in [-1, 1],
`true_shape` (B, 2) (H, W), `img_mask` (B,) all True, plus the ground truth the loss reads:
`camera_pose` (B, 4, 4) cam-to-world, `pts3d` (B, H, W, 3) world points, `valid_mask` (B, H, W),
`depthmap` (B, H, W) and `camera_intrinsics` (B, 3, 3). The model is called on the whole list, so the
frames are fed in order through its memory and DDP sees one forward.

The loss is Point3R's (`recon3r.tasks.stream_losses`), by default
`ConfLoss(Regr3DPose(L21, norm_mode='?avg_dis'), alpha=0.2)`. Held-out metrics (`StreamTask.metrics`):
- `self_pts3d_error`, `pts3d_error`: mean distance between predicted and true camera-frame and
  frame-0-frame points, each side divided by its own mean distance to the origin over the sequence;
- `depth_abs_rel`: |s·ẑ − z| / z of the self-view depth with one scale s per sequence (median ratio);
- `rotation_error_deg`, `translation_error`: frame-0-relative camera rotations (geodesic angle) and
  positions (after the same per-sequence scale normalisation as `pts3d_error`), over frames 1..K−1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import default_collate

from recon3r.data.sample import Sample
from recon3r.errors import ConfigError
from recon3r.geometry.pointmaps import normalize_pointmaps
from recon3r.tasks.base import Task
from recon3r.tasks.stream_losses import STREAM_LOSSES, frame0_targets, world_from_cam_to_pose_encoding

#: The per-view keys a stream batch keeps (the model's inputs and the loss's and metrics' ground truth).
BATCH_KEYS = ("img", "true_shape", "camera_pose", "pts3d", "valid_mask", "depthmap", "camera_intrinsics")


class StreamTask(Task):
    name = "stream"
    min_views = 2
    default_criterion = "ConfLoss(Regr3DPose(L21, norm_mode='?avg_dis'), alpha=0.2)"
    commands = ("stream",)

    def __init__(self, patch_size: int = 16):
        self.patch_size = int(patch_size)

    def configure(self, model: nn.Module) -> None:
        self.patch_size = int(getattr(model, "config", {}).get("patch_size", self.patch_size))

    def check_sample(self, sample: Sample, source: str = "dataset") -> None:
        """K ≥ 2 views of one size, whose sides are multiples of the model's patch size."""
        super().check_sample(sample, source)
        shapes = {tuple(int(s) for s in view["true_shape"]) for view in sample}
        if len(shapes) != 1:
            raise ConfigError(f"{source}: the frames of a sequence must share one size, got {sorted(shapes)} "
                              "(give the dataset a resolution)")
        height, width = shapes.pop()
        if height % self.patch_size or width % self.patch_size:
            raise ConfigError(f"{source} gives {width}x{height} frames; a streaming model needs sides that are "
                              f"multiples of {self.patch_size} (set resolution= on the dataset)")

    def collate(self, samples: list[Sample]) -> list[dict[str, Tensor]]:
        """Samples of T views → T per-frame dicts of batched tensors (see the module docstring)."""
        lengths = {len(sample) for sample in samples}
        if len(lengths) != 1:
            raise ConfigError(f"a stream batch needs sequences of one length, got lengths {sorted(lengths)}")
        frames = []
        for t in range(lengths.pop()):
            frame = default_collate([{key: sample[t][key] for key in BATCH_KEYS} for sample in samples])
            frame["img_mask"] = torch.ones(len(samples), dtype=torch.bool)
            frames.append(frame)
        return frames

    def forward(self, model: nn.Module, batch: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        return model(batch)

    def criteria(self) -> Mapping[str, Any]:
        return STREAM_LOSSES

    @torch.no_grad()
    def metrics(self, batch: list[dict[str, Tensor]], predictions: list[dict[str, Tensor]]) -> dict[str, float]:
        """Held-out metrics of one batch (module docstring); means over samples (and frames)."""
        gt_self, gt_world, poses = frame0_targets(batch)
        valid = [view["valid_mask"].bool() for view in batch]
        out = {}
        for name, gts, key in (("self_pts3d_error", gt_self, "pts3d_in_self_view"),
                               ("pts3d_error", gt_world, "pts3d_in_other_view")):
            gts, gt_scale = normalize_pointmaps(gts, valid)
            preds, pred_scale = normalize_pointmaps([p[key] for p in predictions], valid)
            out[name] = _masked_mean([(p - g).norm(dim=-1) for p, g in zip(preds, gts)], valid)
        pred_depth = [p["pts3d_in_self_view"][..., 2] for p in predictions]
        out["depth_abs_rel"] = sequence_abs_rel(pred_depth, [v["depthmap"] for v in batch], valid)
        if len(batch) > 1:
            pred_pose = torch.stack([p["camera_pose"] for p in predictions], dim=1)[:, 1:]
            gt_pose = world_from_cam_to_pose_encoding(poses)[:, 1:]
            cos = (pred_pose[..., 3:] * gt_pose[..., 3:]).sum(-1).abs().clamp(max=1.0)
            out["rotation_error_deg"] = float(torch.rad2deg(2 * torch.acos(cos)).mean())
            error = pred_pose[..., :3] / pred_scale.reshape(-1, 1, 1) - gt_pose[..., :3] / gt_scale.reshape(-1, 1, 1)
            out["translation_error"] = float(error.norm(dim=-1).mean())
        return out


def _masked_mean(values: list[Tensor], valid: list[Tensor]) -> float:
    """Mean over the valid pixels of each sample (all frames), then over samples with any."""
    total = sum((torch.where(m, v, torch.zeros_like(v)).flatten(1).sum(1) for v, m in zip(values, valid)))
    count = sum(m.flatten(1).sum(1) for m in valid)
    keep = count > 0
    return float((total[keep] / count[keep]).mean()) if bool(keep.any()) else float("nan")


def sequence_abs_rel(pred_depth: list[Tensor], gt_depth: list[Tensor], valid: list[Tensor]) -> float:
    """Mean |s·ẑ − z| / z over valid pixels, with one scale s = median(z / ẑ) per sequence (video depth).

    pred_depth, gt_depth, valid: T maps (B, H, W). The median of the per-pixel ratios stays finite when
    some predicted depths are near zero or negative (an untrained model's); those pixels keep their error.
    """
    errors = []
    for b in range(len(valid[0])):
        mask = torch.cat([m[b].flatten() for m in valid])
        if not bool(mask.any()):
            continue
        gt = torch.cat([d[b].flatten() for d in gt_depth])[mask]
        pred = torch.cat([d[b].flatten() for d in pred_depth])[mask]
        ratio = gt / torch.where(pred.abs() < 1e-8, torch.full_like(pred, 1e-8), pred)
        scale = ratio.median()
        errors.append(((scale * pred - gt).abs() / gt).mean())
    return float(torch.stack(errors).mean()) if errors else float("nan")
