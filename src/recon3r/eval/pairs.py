"""Pair-level evaluation of a pair model on a dataset of view pairs with ground truth.

Per pair, view 1's predicted pointmap is in its own camera frame, so its z channel is a depth
map. Reported (means over pairs):
- `regr3d_ssi`: `Regr3D_ScaleShiftInv(L21, gt_scale=True)` on both views (the DUSt3R test loss);
- `abs_rel`, `delta_1`: view-1 depth after per-frame median scaling (`recon3r.eval.metrics.depth_metrics`);
- `focal_rel_err`: |f_pred − f_true| / f_true with f_pred estimated from view 1's pointmap (Weiszfeld,
  principal point at the image centre) and f_true the mean of the true fx, fy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

Predictor = Callable[[dict, dict], tuple[dict, dict]]


def constant_plane_predictor(fov_degrees: float = 60.0) -> Predictor:
    """A trivial baseline: both views see a fronto-parallel plane at depth 1 through a `fov_degrees` camera."""

    def predict(view1: dict, view2: dict) -> tuple[dict, dict]:
        from recon3r.geometry import depth_to_points

        outputs = []
        for view in (view1, view2):
            batch, _, height, width = view["img"].shape
            focal = 0.5 * width / math.tan(math.radians(fov_degrees) / 2)
            K = torch.tensor([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1.0]])
            pts = depth_to_points(torch.ones(batch, height, width), K.expand(batch, 3, 3))
            outputs.append({"pts3d": pts, "conf": torch.ones(batch, height, width)})
        return outputs[0], {"pts3d_in_other_view": outputs[1]["pts3d"], "conf": outputs[1]["conf"]}

    return predict


@torch.inference_mode()
def evaluate_pairs(predictor: Predictor | torch.nn.Module, dataset, batch_size: int = 8,
                   device: str | torch.device = "cpu") -> dict[str, float]:
    """Mean pair metrics (see module docstring) of `predictor` over every item of `dataset`."""
    from recon3r.eval.metrics import depth_metrics
    from recon3r.geometry.focal import estimate_focal
    from recon3r.train.losses import L21, Regr3D_ScaleShiftInv
    from recon3r.train.trainer import to_device

    if isinstance(predictor, torch.nn.Module):
        predictor.eval().to(device)
    criterion = Regr3D_ScaleShiftInv(L21, gt_scale=True)
    sums: dict[str, list[float]] = {"abs_rel": [], "delta_1": [], "focal_rel_err": []}
    loss_sum, pairs = 0.0, 0
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        view1, view2 = to_device(batch, torch.device(device))
        pred1, pred2 = predictor(view1, view2)
        pred1 = {k: v.float() for k, v in pred1.items() if torch.is_tensor(v)}
        pred2 = {k: v.float() for k, v in pred2.items() if torch.is_tensor(v)}
        loss, _ = criterion(view1, view2, pred1, pred2)
        loss_sum += float(loss) * len(view1["img"])  # the criterion averages over the batch
        pairs += len(view1["img"])
        depth_pred = pred1["pts3d"][..., 2].cpu().numpy()
        depth_gt = view1["depthmap"].cpu().numpy()
        valid = view1["valid_mask"].cpu().numpy() & (depth_gt > 0)
        focals = estimate_focal(pred1["pts3d"], mode="weiszfeld").cpu().numpy()
        true_focals = 0.5 * (view1["camera_intrinsics"][:, 0, 0] + view1["camera_intrinsics"][:, 1, 1]).cpu().numpy()
        for b in range(len(depth_gt)):
            if valid[b].sum() < 10:
                continue
            metrics = depth_metrics(depth_pred[b], depth_gt[b], valid[b], align="median")
            sums["abs_rel"].append(metrics["abs_rel"])
            sums["delta_1"].append(metrics["delta_1"])
            sums["focal_rel_err"].append(abs(float(focals[b]) - true_focals[b]) / true_focals[b])
    means = {k: float(np.mean(v)) if v else float("nan") for k, v in sums.items()}
    return {"regr3d_ssi": loss_sum / max(pairs, 1), **means, "pairs": pairs}
