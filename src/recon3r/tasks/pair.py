"""The pair task (DUSt3R and the multimodal pair model): two views in, pointmaps in view 1's frame.

Samples are pairs of views; the batch is `(view1, view2)`, each a dict of batched tensors (torch's
default collate); the loss is one of DUSt3R's criteria (`recon3r.train.losses`), e.g.
`ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)`, called as `loss(gt1, gt2, pred1, pred2)`.

Models that read captions (the multimodal pair model) add two things:
- an auxiliary loss, when the model has a `caption_focal_weight` > 0 and returns `caption_focal`
  (the log focal / image width it reads from each view's caption): weight × mean |read − true|
  over the captions present, logged as `caption_focal_loss`;
- held-out diagnostics in `metrics`: the model's fusion gates (`fusion_gates()`), and the focal
  error re-measured with every caption's focal length doubled (`focal_err_wrong_caption`) and
  with no captions (`focal_err_no_caption`). A model that ignores its captions shows it: the
  three focal errors agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from recon3r.tasks.base import Details, Task

#: The factor by which `focal_err_wrong_caption` scales each caption's focal length.
WRONG_CAPTION_FOCAL_FACTOR = 2.0


class PairTask(Task):
    name = "pair"
    num_views = 2
    default_criterion = "ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)"
    commands = ("reconstruct", "demo")

    caption_focal_weight: float = 0.0
    caption_model: nn.Module | None = None

    def configure(self, model: nn.Module) -> None:
        """Read the auxiliary caption-focal weight, and keep a model that reads captions: `metrics`
        re-runs it on each held-out batch with wrong and with missing captions."""
        self.caption_focal_weight = float(getattr(model, "caption_focal_weight", 0.0) or 0.0)
        self.caption_model = model if callable(getattr(model, "fusion_gates", None)) else None

    def forward(self, model: nn.Module, batch: Any) -> Any:
        view1, view2 = batch
        return model(view1, view2)

    def criteria(self) -> Mapping[str, Any]:
        from recon3r.train.losses import LOSSES

        return LOSSES

    def loss(self, criterion: Any, batch: Any, predictions: Any):
        view1, view2 = batch
        pred1, pred2 = predictions
        loss, details = criterion(view1, view2, pred1, pred2)
        if self.caption_focal_weight > 0 and "caption_focal" in pred1:
            residuals = caption_focal_residuals(batch, predictions)
            if residuals.numel():
                aux = residuals.abs().mean()
                loss = loss + self.caption_focal_weight * aux
                details = {**details, "caption_focal_loss": float(aux.detach())}
        return loss, details

    def metrics(self, batch: Any, predictions: Any) -> Details:
        """`focal_err`: median over the batch of |estimated / true focal − 1| of view 1, the focal
        estimated from its predicted pointmap (`estimate_focal`, median mode, true principal point).
        For models that read captions, also the fusion gates, `caption_focal_err` (the focal read
        from the caption, when the model has that head) and the focal error with wrong / no captions.
        """
        view1, _ = batch
        pred1, _ = predictions
        details = {"focal_err": view1_focal_error(view1, pred1)}
        model = self.caption_model
        if model is None:
            return details
        details.update(model.fusion_gates())
        if "caption_focal" in pred1:
            residuals = caption_focal_residuals(batch, predictions)
            if residuals.numel():
                details["caption_focal_err"] = float(residuals.abs().exp().sub(1).median())
        if not any(_has_caption(view) for view in batch):
            return details
        for name, factor in (("wrong_caption", WRONG_CAPTION_FOCAL_FACTOR), ("no_caption", None)):
            altered = [with_captions_scaled(view, factor) for view in batch]
            with torch.no_grad():
                other1, _ = model(*altered)
            details[f"focal_err_{name}"] = view1_focal_error(view1, other1)
        return details


def view1_focal_error(view: Mapping[str, Any], pred: Mapping[str, Tensor]) -> float:
    """Median relative focal error of a batch of pointmaps `pred['pts3d']` (B, H, W, 3) against
    `view['camera_intrinsics']` (B, 3, 3)."""
    from recon3r.geometry.focal import estimate_focal

    intrinsics = view["camera_intrinsics"].to(pred["pts3d"].dtype)
    focal = estimate_focal(pred["pts3d"], principal_point=intrinsics[:, :2, 2])
    truth = intrinsics[:, 0, 0]
    return float(((focal - truth).abs() / truth).median())


def caption_focal_target(view: Mapping[str, Any]) -> Tensor:
    """log(fx / image width) (B,) of a batched view: what the caption-focal head regresses."""
    intrinsics = view["camera_intrinsics"]
    return torch.log(intrinsics[:, 0, 0].float() / view["img"].shape[-1])


def caption_focal_residuals(batch: Any, predictions: Any) -> Tensor:
    """read − true log focal / width over both views' present captions (`caption_focal` is NaN where
    a view has none); (N,), possibly empty."""
    residuals = []
    for view, pred in zip(batch, predictions):
        read = pred["caption_focal"]
        present = torch.isfinite(read)
        residuals.append(read[present] - caption_focal_target(view).to(read)[present])
    return torch.cat(residuals)


def with_captions_scaled(view: Mapping[str, Any], factor: float | None) -> dict[str, Any]:
    """A shallow copy of a batched view whose captions have their focal length × `factor`
    (`recon3r.text.scale_caption_focal`), or are all missing when `factor` is None."""
    from recon3r.text import scale_caption_focal

    captions = list(view.get("caption") or [])
    if factor is None:
        captions = [""] * len(captions)
    else:
        captions = [scale_caption_focal(c, factor) if c else c for c in captions]
    return {**view, "caption": captions}


def _has_caption(view: Mapping[str, Any]) -> bool:
    captions = view.get("caption")
    return isinstance(captions, (list, tuple)) and any(isinstance(c, str) and c.strip() for c in captions)
