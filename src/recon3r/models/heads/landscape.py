"""Run a head in each sample's true orientation (reference `transpose_to_landscape`).

With `landscape_only=True` (the reference default) a batch is assumed stored in landscape layout:
H = min(true_shape), W = max(true_shape) over the batch; landscape samples (width ≥ height) run at
(H, W); portrait samples run at (W, H), their true orientation, and have their output axes 1 and 2
swapped back to the stored landscape layout; a mixed batch is split and re-assembled.
With `landscape_only=False` all samples must share one true_shape, and the head runs at it with
no transposition (the inference path: portrait in, portrait out).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Head = Callable[[list[torch.Tensor], tuple[int, int]], dict[str, torch.Tensor]]


def _transposed(result: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.transpose(1, 2) for key, value in result.items()}


def apply_head(head: Head, tokens: list[torch.Tensor], true_shape: torch.Tensor, *, landscape_only: bool) -> dict[str, torch.Tensor]:
    """Run `head(tokens, (H, W))` for a batch with per-sample `true_shape` (B, 2) (height, width).

    `true_shape` should live on the CPU (it decides shapes); tokens may be on any device.
    """
    if not landscape_only:
        if not bool((true_shape == true_shape[0:1]).all()):
            raise ValueError(
                "with landscape_only=False all images of a view must have the same true_shape, got "
                f"{true_shape.tolist()}"
            )
        H, W = (int(v) for v in true_shape[0].tolist())
        return head(tokens, (H, W))

    H, W = int(true_shape.min()), int(true_shape.max())
    is_landscape = true_shape[:, 1] >= true_shape[:, 0]
    if bool(is_landscape.all()):
        return head(tokens, (H, W))
    if not bool(is_landscape.any()):
        return _transposed(head(tokens, (W, H)))

    is_landscape = is_landscape.to(tokens[-1].device)
    is_portrait = ~is_landscape
    landscape = head([t[is_landscape] for t in tokens], (H, W))
    portrait = _transposed(head([t[is_portrait] for t in tokens], (W, H)))
    result = {}
    for key in landscape:
        value = landscape[key].new_empty((true_shape.shape[0], *landscape[key].shape[1:]))
        value[is_landscape] = landscape[key]
        value[is_portrait] = portrait[key]
        result[key] = value
    return result
