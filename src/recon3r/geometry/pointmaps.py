"""Joint statistics of point maps over several views: normalisation, median depth, centre and scale.

All functions take a sequence of views, each a (B, H, W, 3) point map (or (B, H, W) depth)
of the same batch B, with optional boolean validity masks (B, H, W). Statistics are taken
jointly over the valid pixels of all views of a sample.

Reference names (DUSt3R) and their equivalents here:

| reference                                          | recon3r                                        |
|----------------------------------------------------|------------------------------------------------|
| `normalize_pointcloud(p1, p2, mode, v1, v2, True)` | `normalize_pointmaps([p1, p2], [v1, v2], mode=mode)` |
| `get_joint_pointcloud_depth(z1, z2, v1, v2, q)`    | `joint_depth_quantile([z1, z2], [v1, v2], q)`  |
| `get_joint_pointcloud_center_scale(p1, p2, v1, v2)`| `joint_center_and_scale([p1, p2], [v1, v2])`   |
| `invalid_to_nans` + flatten + cat                  | `gather_views(views, valid)`                   |
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

NORM_MODES = ("avg_dis", "median_dis")


def _check_views(views: Sequence[Tensor], valid: Sequence[Tensor | None] | None) -> list[Tensor | None]:
    if len(views) == 0:
        raise ValueError("expected at least one view")
    batch = views[0].shape[0]
    if any(view.shape[0] != batch for view in views):
        raise ValueError(f"all views must share the batch size, got {[tuple(v.shape) for v in views]}")
    masks = [None] * len(views) if valid is None else list(valid)
    if len(masks) != len(views):
        raise ValueError(f"got {len(masks)} validity masks for {len(views)} views")
    for view, mask in zip(views, masks):
        if mask is not None and mask.shape != view.shape[: mask.ndim]:
            raise ValueError(f"validity mask of shape {tuple(mask.shape)} does not fit a view of shape {tuple(view.shape)}")
    return masks


def gather_views(
    views: Sequence[Tensor], valid: Sequence[Tensor | None] | None = None, *, channels: bool = True
) -> Tensor:
    """Concatenate views per sample, invalid pixels set to NaN.

    Args:
        views: sequence of (B, H, W, C) maps if `channels`, else (B, H, W) maps.
        valid: matching boolean masks (B, H, W), or None entries for all-valid views.

    Returns:
        (B, M, C) (or (B, M)) with M the total pixel count of the views.
    """
    masks = _check_views(views, valid)
    flat = []
    for view, mask in zip(views, masks):
        if mask is not None:
            keep = mask[..., None] if channels else mask
            view = torch.where(keep, view, torch.full((), float("nan"), dtype=view.dtype, device=view.device))
        flat.append(view.reshape(view.shape[0], -1, view.shape[-1]) if channels else view.reshape(view.shape[0], -1))
    return torch.cat(flat, dim=1)


def normalize_pointmaps(
    points: Sequence[Tensor], valid: Sequence[Tensor | None] | None = None, *, mode: str = "avg_dis",
    weights: Sequence[Tensor] | None = None,
) -> tuple[list[Tensor], Tensor]:
    """Divide point maps by a joint per-sample scale: their typical distance to the origin.

    Args:
        points: sequence of (B, H, W, 3) point maps (same frame, e.g. camera 1).
        valid: matching boolean masks (B, H, W); None entries (or None) mean all pixels.
        mode: `avg_dis`: the mean norm of the valid points of all views. As in the reference,
            a view given without a mask counts 3·H·W (its number of coordinates, not points)
            in the divisor; pass an all-true mask for the plain mean.
            `median_dis`: the median norm of the valid points (lower middle value; no gradient).
        weights: optional (B, H, W) per-pixel weights, one per view (`avg_dis` only): the factor is
            then the weighted mean norm Σ w·‖p‖ / (Σ w + 1e-8) over valid pixels (CUT3R weights it
            by the predicted log-confidence; `recon3r.tasks.stream_losses`).

    Returns:
        the normalised views, and the factor (B, 1, 1, 1), clipped below at 1e-8.
    """
    masks = _check_views(points, valid)
    if any(view.ndim != 4 or view.shape[-1] != 3 for view in points):
        raise ValueError(f"point maps must be (B, H, W, 3), got {[tuple(v.shape) for v in points]}")
    if weights is not None:
        if mode != "avg_dis" or len(weights) != len(points):
            raise ValueError(f"weights need mode='avg_dis' and one map per view, got mode={mode!r} and "
                             f"{len(weights)} maps for {len(points)} views")
        total = weighted = 0
        for view, mask, weight in zip(points, masks, weights):
            if mask is not None:  # zero invalid pixels before the norm: no NaN gradient from invalid points
                view = torch.where(mask[..., None], view, torch.zeros((), dtype=view.dtype, device=view.device))
                weight = torch.where(mask, weight, torch.zeros((), dtype=weight.dtype, device=weight.device))
            weighted = weighted + (weight * view.norm(dim=-1)).reshape(len(view), -1).sum(1)
            total = total + weight.reshape(len(view), -1).sum(1)
        factor = weighted / (total + 1e-8)
    elif mode == "avg_dis":
        norms = []
        count = 0
        for view, mask in zip(points, masks):
            if mask is None:
                count = count + view[0].numel()
            else:
                view = torch.where(mask[..., None], view, torch.zeros((), dtype=view.dtype, device=view.device))
                count = count + mask.reshape(len(mask), -1).sum(1)
            norms.append(view.norm(dim=-1).reshape(len(view), -1))
        # one sum over all views (not a sum of per-view sums) keeps float32 results identical to the reference
        factor = torch.cat(norms, dim=1).sum(1) / (count + 1e-8)
    elif mode == "median_dis":
        factor = gather_views(points, masks).norm(dim=-1).nanmedian(dim=1).values.detach()
    else:
        raise ValueError(f"unknown norm mode {mode!r}; expected one of {NORM_MODES}")
    factor = factor.clamp_min(1e-8).reshape(-1, 1, 1, 1)
    return [view / factor for view in points], factor


def joint_depth_quantile(
    depths: Sequence[Tensor], valid: Sequence[Tensor | None] | None = None, quantile: float = 0.5
) -> Tensor:
    """(B,) quantile of the valid depths (z) of all views; (B, H, W) each.

    The median (0.5) takes the lower middle value, as `torch.nanmedian`; other quantiles
    interpolate linearly.
    """
    flat = gather_views(depths, valid, channels=False)
    if quantile == 0.5:
        return flat.nanmedian(dim=-1).values
    return torch.nanquantile(flat, quantile, dim=-1)


def joint_center_and_scale(
    points: Sequence[Tensor],
    valid: Sequence[Tensor | None] | None = None,
    *,
    z_only: bool = False,
    center: bool = True,
) -> tuple[Tensor, Tensor]:
    """Per-axis median centre (B, 1, 1, 3) and median distance to it (B, 1, 1, 1).

    Args:
        points: sequence of (B, H, W, 3) point maps.
        valid: matching boolean masks (B, H, W).
        z_only: zero the x and y of the centre (centre along the depth axis only).
        center: measure distances to the centre; otherwise to the origin.
    """
    flat = gather_views(points, valid)
    middle = flat.nanmedian(dim=1, keepdim=True).values  # (B, 1, 3)
    if z_only:
        middle = torch.cat([torch.zeros_like(middle[..., :2]), middle[..., 2:]], dim=-1)
    distances = (flat - middle if center else flat).norm(dim=-1)
    scale = distances.nanmedian(dim=1).values
    return middle[:, None], scale.reshape(-1, 1, 1, 1)
