"""Learning-rate schedule: linear warm-up, then half-cosine decay to `min_lr` (per step, fractional epochs)."""

from __future__ import annotations

import math


def learning_rate_at(epoch: float, base_lr: float, min_lr: float, warmup_epochs: float, epochs: float) -> float:
    """LR at a fractional epoch (e.g. 2.5 = halfway through the third epoch)."""
    if epoch < warmup_epochs:
        return base_lr * epoch / warmup_epochs
    span = max(epochs - warmup_epochs, 1e-12)
    progress = min(max((epoch - warmup_epochs) / span, 0.0), 1.0)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_learning_rate(optimizer, lr: float) -> None:
    """Set every param group's LR, honouring an optional per-group `lr_scale`."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
