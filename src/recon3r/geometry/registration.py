"""Fitting transforms between corresponding points: similarity (Umeyama), poses, scale only.

Reference names (DUSt3R / roma) and their equivalents here:

| reference                                             | recon3r                                         |
|-------------------------------------------------------|-------------------------------------------------|
| `roma.rigid_points_registration(x, y, w, True)`       | `umeyama(x, y, w)` (returns `(s, R, t)`)        |
| `rigid_points_registration(pts1, pts2, conf)`         | `umeyama(pts1.reshape(-1, 3), pts2..., conf...)` |
| `sRT_to_4x4(s, R, T)`                                 | `transforms.make_transform(R, T, s)`            |
| `align_multiple_poses(src_poses, target_poses)`       | `align_poses(source_poses, target_poses)`       |
| `find_opt_scaling(gt1, gt2, pr1, pr2, fit_mode, ...)` | `fit_scale([gt1, gt2], [pr1, pr2], valid, mode)` |
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from recon3r.geometry.pointmaps import gather_views


def umeyama(
    source: Tensor, target: Tensor, weights: Tensor | None = None, *, with_scale: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Weighted least-squares similarity from `source` to `target` (Umeyama 1991).

    Minimises Σ_i w_i ‖s·R·source_i + t − target_i‖² over rotations R (det +1), scales s > 0
    and translations t.

    Args:
        source: (..., N, D) points, D usually 3.
        target: (..., N, D) corresponding points.
        weights: (..., N) non-negative weights, or None for uniform weights. Only their
            ratios matter.
        with_scale: fit s; otherwise s = 1 (a rigid fit).

    Returns:
        scale (...), rotation (..., D, D), translation (..., D), such that
        target ≈ scale·rotation @ source + translation. A degenerate set (no positive weight,
        non-finite values, source or target collapsed to one point) gets the identity (s = 1,
        R = I, t = 0) and a RuntimeWarning instead of a linear-algebra error.
    """
    if source.ndim < 2 or source.shape != target.shape:
        raise ValueError(
            f"source and target must both be (..., N, D), got {tuple(source.shape)} and {tuple(target.shape)}"
        )
    if weights is None:
        weights = torch.ones(source.shape[:-1], dtype=source.dtype, device=source.device)
    if weights.shape != source.shape[:-1]:
        raise ValueError(f"weights must be (..., N) = {tuple(source.shape[:-1])}, got {tuple(weights.shape)}")
    weights = weights.to(source.dtype)
    total = weights.sum(-1, keepdim=True)
    weights = weights / torch.where(total > 0, total, torch.ones_like(total))

    source_mean = (weights[..., None] * source).sum(-2)
    target_mean = (weights[..., None] * target).sum(-2)
    source_centred = source - source_mean[..., None, :]
    target_centred = target - target_mean[..., None, :]

    # Weighted cross-covariance Σ w·y·xᵀ; its SVD gives the rotation, the reflection is removed.
    covariance = torch.einsum("...n,...ni,...nj->...ij", weights, target_centred, source_centred)
    variance = (weights * source_centred.square().sum(-1)).sum(-1)
    target_variance = (weights * target_centred.square().sum(-1)).sum(-1)
    degenerate = _degenerate_sets(total[..., 0], covariance, (source, variance), (target, target_variance), weights)
    eye = torch.eye(covariance.shape[-1], dtype=covariance.dtype, device=covariance.device)
    if bool(degenerate.any()):
        warnings.warn(f"similarity fit on {int(degenerate.sum())} degenerate point set(s) (collapsed, non-finite or "
                      "zero-weight points): using the identity instead", RuntimeWarning, stacklevel=2)
        covariance = torch.where(degenerate[..., None, None], eye, covariance)
        variance = torch.where(degenerate, torch.ones_like(variance), variance)
    u, singular, vh = torch.linalg.svd(covariance)
    sign = torch.sign(torch.linalg.det(u) * torch.linalg.det(vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    flip = torch.ones_like(singular)
    flip = torch.cat([flip[..., :-1], sign[..., None]], dim=-1)
    rotation = (u * flip[..., None, :]) @ vh

    if with_scale:
        scale = (singular * flip).sum(-1) / variance
    else:
        scale = torch.ones_like(weights[..., 0])
    translation = target_mean - scale[..., None] * (rotation @ source_mean[..., None])[..., 0]
    if bool(degenerate.any()):  # exactly the identity: no rotation, unit scale, no shift
        rotation = torch.where(degenerate[..., None, None], eye, rotation)
        scale = torch.where(degenerate, torch.ones_like(scale), scale)
        translation = torch.where(degenerate[..., None], torch.zeros_like(translation), translation)
    return scale, rotation, translation


def _degenerate_sets(total: Tensor, covariance: Tensor, source: tuple[Tensor, Tensor], target: tuple[Tensor, Tensor],
                     weights: Tensor) -> Tensor:
    """(...) bool: point sets no similarity can be fitted to.

    No positive total weight, non-finite values, or a set (source or target) collapsed to one point:
    its spread is below the floating-point resolution of its coordinates (zero for constant or
    all-zero points, and for points so close to 0 that their squares underflow).
    """
    eps = torch.finfo(covariance.dtype).eps
    bad = ~(torch.isfinite(total) & (total > 0))
    bad |= ~torch.isfinite(covariance).flatten(-2).all(-1)
    for points, spread in (source, target):  # (points (..., N, D), weighted variance (...))
        second_moment = (weights * points.square().sum(-1)).sum(-1)
        collapsed = ~(spread > eps**2 * second_moment) | ~(spread > torch.finfo(spread.dtype).tiny)
        bad |= ~torch.isfinite(spread) | collapsed
    return bad


def median_camera_distance(poses: Tensor) -> Tensor:
    """(...) median distance between the centres of all pairs of cameras (..., N, 4, 4), N ≥ 2.

    With an even number of pairs the two middle values are averaged.
    """
    if poses.ndim < 3 or poses.shape[-2:] != (4, 4) or poses.shape[-3] < 2:
        raise ValueError(f"poses must be (..., N, 4, 4) with N >= 2, got {tuple(poses.shape)}")
    centres = poses[..., :3, 3]
    count = centres.shape[-2]
    rows, cols = torch.triu_indices(count, count, offset=1, device=poses.device)
    distances = (centres[..., rows, :] - centres[..., cols, :]).norm(dim=-1)
    return torch.quantile(distances, 0.5, dim=-1)


def align_poses(source_poses: Tensor, target_poses: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Similarity (s, R, t) that maps camera poses `source_poses` onto `target_poses`.

    Both are (..., N, 4, 4) cam-to-world poses of the same N ≥ 2 cameras. Each camera
    contributes its centre and a point one step along its optical (z) axis, the step being
    1/100 of that set's median distance between camera centres; the 2N points are fitted
    with `umeyama`, so orientations count as well as positions.

    Returns:
        scale (...), rotation (..., 3, 3), translation (..., 3): target centre ≈ s·R·source
        centre + t. Apply to poses with `make_transform(R, t, s) @ source_poses`.
    """
    if source_poses.shape != target_poses.shape:
        raise ValueError(
            f"source and target poses must have the same shape, got {tuple(source_poses.shape)}"
            f" and {tuple(target_poses.shape)}"
        )
    return umeyama(_centres_and_axes(source_poses), _centres_and_axes(target_poses))


def _centres_and_axes(poses: Tensor) -> Tensor:
    step = median_camera_distance(poses) / 100
    centres = poses[..., :3, 3]
    ahead = centres + step[..., None, None] * poses[..., :3, 2]
    return torch.cat([centres, ahead], dim=-2)


def fit_scale(
    source: Tensor | Sequence[Tensor],
    target: Tensor | Sequence[Tensor],
    valid: Tensor | Sequence[Tensor | None] | None = None,
    *,
    mode: str = "weiszfeld_stop_grad",
) -> Tensor:
    """Per-sample scale s with target ≈ s·source, fitted jointly over one or several views.

    Args:
        source: point maps (B, H, W, 3), or a sequence of them (one per view; sizes may differ).
        target: matching point maps, same shapes as `source`.
        valid: boolean masks (B, H, W) per view, or None for all points.
        mode: `avg` (closed-form least squares ⟨p, g⟩/⟨g, g⟩ averaged over points),
            `median` (median of the per-point ratios ⟨p, g⟩/⟨g, g⟩) or `weiszfeld` (least
            absolute distances: the `avg` solution then 10 reweighted steps with weights
            1/max(‖p − s·g‖, 1e-8)). A `_stop_grad` suffix detaches the result.

    Returns:
        (B,) scales, clipped below at 1e-3.
    """
    base, _, stop = mode.partition("_")
    if base not in ("avg", "median", "weiszfeld") or stop not in ("", "stop_grad"):
        raise ValueError(
            f"unknown scale fit mode {mode!r}; expected avg, median or weiszfeld, optionally + '_stop_grad'"
        )
    source_views = [source] if isinstance(source, Tensor) else list(source)
    target_views = [target] if isinstance(target, Tensor) else list(target)
    if len(source_views) != len(target_views) or any(
        s.shape != t.shape or s.ndim != 4 or s.shape[-1] != 3
        for s, t in zip(source_views, target_views)
    ):
        raise ValueError(
            "source and target must be matching (B, H, W, 3) point maps, got "
            f"{[tuple(s.shape) for s in source_views]} and {[tuple(t.shape) for t in target_views]}"
        )
    gt = gather_views(source_views, valid)
    pred = gather_views(target_views, valid)
    dot_pred_gt = (pred * gt).sum(-1)
    dot_gt_gt = gt.square().sum(-1)
    if base == "median":
        scale = (dot_pred_gt / dot_gt_gt).nanmedian(dim=-1).values
    else:
        scale = dot_pred_gt.nanmean(-1) / dot_gt_gt.nanmean(-1)
        if base == "weiszfeld":
            for _ in range(10):
                residual = (pred - scale[:, None, None] * gt).norm(dim=-1)
                weight = residual.clamp_min(1e-8).reciprocal()
                scale = (weight * dot_pred_gt).nanmean(-1) / (weight * dot_gt_gt).nanmean(-1)
    if stop:
        scale = scale.detach()
    return scale.clamp_min(1e-3)
