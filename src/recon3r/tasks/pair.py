"""The pair task (DUSt3R and the multimodal pair model): two views in, pointmaps in view 1's frame.

Samples are pairs of views; the batch is `(view1, view2)`, each a dict of batched tensors (torch's
default collate); the loss is one of DUSt3R's criteria (`recon3r.train.losses`), e.g.
`ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)`, called as `loss(gt1, gt2, pred1, pred2)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from recon3r.tasks.base import Task


class PairTask(Task):
    name = "pair"
    num_views = 2
    default_criterion = "ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)"
    commands = ("reconstruct", "demo")

    def forward(self, model: nn.Module, batch: Any) -> Any:
        view1, view2 = batch
        return model(view1, view2)

    def criteria(self) -> Mapping[str, Any]:
        from recon3r.train.losses import LOSSES

        return LOSSES

    def loss(self, criterion: Any, batch: Any, predictions: Any):
        view1, view2 = batch
        pred1, pred2 = predictions
        return criterion(view1, view2, pred1, pred2)
