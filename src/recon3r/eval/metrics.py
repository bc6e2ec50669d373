"""Evaluation metrics of the field, each with its exact definition.

Every function is pure and accepts numpy arrays or torch tensors. Tensor-level functions return
the same kind they were given (numpy inputs are computed in float64); the `*_metrics` summaries
return plain `dict[str, float]`, which is what tables and JSON reports are made of, so a command
that calls them prints exactly the numbers a direct call gives.

Conventions: poses are cam-to-world `world_from_cam` (..., N, 4, 4) rigid matrices with OpenCV
axes; angles are in degrees; accuracies (RRA, RTA, mAA, δ) are percentages in [0, 100].

Groups:
- relative pose: `rotation_angle`, `translation_angle`, `relative_pose_errors`, `accuracy_at`,
  `mean_average_accuracy`, `relpose_metrics`;
- point clouds: `nearest_neighbor_distances`, `pointmap_normals`, `pca_normals`,
  `align_point_clouds`, `icp`, `pointcloud_metrics`, `chamfer_distance`;
- depth: `align_depth`, `depth_errors`, `depth_metrics`;
- trajectories: `align_trajectory`, `transform_poses`, `absolute_trajectory_error`,
  `relative_pose_error`, `trajectory_metrics`;
- images (novel views): `psnr`, `ssim`, `mask_iou`, `novel_view_metrics`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

Array = Tensor | np.ndarray

#: Error (degrees) given to a relative pose that cannot be measured, e.g. an image the method
#: failed to register (its pose is NaN). It is larger than any real error, so it fails every threshold.
FAILURE_ERROR_DEG = 180.0


# --------------------------------------------------------------------------------------------
# Helpers


def _tensor(x: Array, name: str = "input") -> Tensor:
    """Torch view of `x`: numpy becomes float64, integer tensors become the default float dtype."""
    if isinstance(x, Tensor):
        return x if x.is_floating_point() else x.to(torch.get_default_dtype())
    try:
        return torch.from_numpy(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}") from exc


def _like(out: Tensor, ref: Array) -> Array:
    """Return `out` as numpy when the reference input was numpy."""
    return out if isinstance(ref, Tensor) else out.detach().cpu().numpy()


def _check_poses(poses: Tensor, name: str) -> None:
    if poses.ndim < 3 or poses.shape[-2:] != (4, 4):
        raise ValueError(
            f"{name} must be (..., N, 4, 4) world_from_cam poses, got shape {tuple(poses.shape)}"
        )


def _float(x: Tensor) -> float:
    return float(x.detach().cpu().item())


# --------------------------------------------------------------------------------------------
# Relative pose


def rotation_angle(rot_a: Array, rot_b: Array) -> Array:
    """Geodesic angle (degrees) between rotations (..., 3, 3): the angle of R_aᵀ·R_b, in [0, 180].

    Computed as atan2(sin θ, cos θ) with cos θ = (tr(M) − 1)/2 and sin θ = ‖vee(M − Mᵀ)‖/2 for
    M = R_aᵀ·R_b, which stays accurate near 0° and 180° (unlike arccos of the trace).
    """
    a, b = _tensor(rot_a, "rot_a"), _tensor(rot_b, "rot_b")
    m = a.transpose(-1, -2) @ b
    cos = (m.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    skew = torch.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )
    sin = torch.linalg.vector_norm(skew, dim=-1) / 2
    return _like(torch.rad2deg(torch.atan2(sin, cos)), rot_a)


def translation_angle(t_a: Array, t_b: Array, fold: bool = True) -> Array:
    """Angle (degrees) between the directions of translations (..., 3).

    θ = atan2(‖a × b‖, a·b) in [0, 180]; with `fold`, min(θ, 180° − θ) in [0, 90], so that a
    direction and its opposite count as equal (the sign of a relative translation is ambiguous for
    methods that do not fix it). A zero-length translation has no direction: the angle is NaN.
    """
    a, b = _tensor(t_a, "t_a"), _tensor(t_b, "t_b")
    a, b = torch.broadcast_tensors(a, b)
    cross = torch.linalg.vector_norm(torch.linalg.cross(a, b, dim=-1), dim=-1)
    angle = torch.rad2deg(torch.atan2(cross, (a * b).sum(-1)))
    defined = (torch.linalg.vector_norm(a, dim=-1) > 0) & (torch.linalg.vector_norm(b, dim=-1) > 0)
    angle = torch.where(defined, angle, torch.full_like(angle, float("nan")))
    if fold:
        angle = torch.minimum(angle, 180 - angle)
    return _like(angle, t_a)


def image_pairs(num_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j), each (P,), of all P = N(N−1)/2 pairs i < j in row-major order."""
    i, j = np.triu_indices(num_images, k=1)
    return i, j


def relative_pose_errors(pred_world_from_cam: Array, gt_world_from_cam: Array) -> tuple[Array, Array]:
    """Rotation and translation errors (degrees) of the relative poses of all pairs i < j.

    pred_world_from_cam, gt_world_from_cam: (..., N, 4, 4) rigid cam-to-world poses of the same
    N images. Returns (rotation_error, translation_error), each (..., P) with P = N(N−1)/2, the
    pairs in the order of `image_pairs(N)`.

    - Rotation error: the geodesic angle between the GT and predicted relative rotations
      R_jᵀ·R_i (the rotation of cam_j_from_cam_i); symmetric in i and j.
    - Translation error: the direction of the baseline c_j − c_i is measured in the frame of
      camera i (the translation of cam_i_from_cam_j) and in that of camera j (the translation of
      cam_j_from_cam_i, the convention of PoseDiffusion and DUSt3R). In each frame the angle
      between the GT and predicted directions is folded to min(θ, 180° − θ), and the two angles
      are averaged, so the error does not depend on the order of the images. When the relative
      rotation is exact the two angles are equal.
    - A pair whose predicted poses are not finite (an unregistered image), or whose predicted
      baseline has zero length, gets `FAILURE_ERROR_DEG` (180°) for both errors.

    Both errors are invariant to a similarity transform of either world frame, so predictions
    with an arbitrary gauge and scale (SfM, pair models) are compared directly.
    """
    pred, gt = (
        _tensor(pred_world_from_cam, "pred_world_from_cam"),
        _tensor(gt_world_from_cam, "gt_world_from_cam"),
    )
    _check_poses(pred, "pred_world_from_cam")
    _check_poses(gt, "gt_world_from_cam")
    if pred.shape[-3:] != gt.shape[-3:]:
        raise ValueError(
            f"pred and gt poses must cover the same images, got {tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    pred, gt = torch.broadcast_tensors(pred.to(gt.dtype) if pred.dtype != gt.dtype else pred, gt)
    i, j = (torch.from_numpy(k).to(pred.device) for k in image_pairs(pred.shape[-3]))

    def pair_geometry(poses: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        rot, centre = poses[..., :3, :3], poses[..., :3, 3]
        rel_rot = rot[..., j, :, :].transpose(-1, -2) @ rot[..., i, :, :]
        baseline = centre[..., j, :] - centre[..., i, :]
        in_i = (rot[..., i, :, :].transpose(-1, -2) @ baseline[..., None])[..., 0]
        in_j = (rot[..., j, :, :].transpose(-1, -2) @ -baseline[..., None])[..., 0]
        return rel_rot, in_i, in_j

    rel_gt, in_i_gt, in_j_gt = pair_geometry(gt)
    rel_pred, in_i_pred, in_j_pred = pair_geometry(pred)
    rot_err = _tensor(rotation_angle(rel_gt, rel_pred))
    trans_err = (
        _tensor(translation_angle(in_i_gt, in_i_pred)) + _tensor(translation_angle(in_j_gt, in_j_pred))
    ) / 2
    failed = ~torch.isfinite(pred).flatten(-2).all(-1)  # (..., N)
    pair_failed = failed[..., i] | failed[..., j]
    rot_err = torch.where(pair_failed | ~torch.isfinite(rot_err), FAILURE_ERROR_DEG, rot_err)
    trans_err = torch.where(pair_failed | ~torch.isfinite(trans_err), FAILURE_ERROR_DEG, trans_err)
    return _like(rot_err, pred_world_from_cam), _like(trans_err, pred_world_from_cam)


def accuracy_at(errors: Array, threshold: float) -> Array:
    """Percentage of errors (..., P) strictly below `threshold`, over the last dimension: (...).

    RRA@τ is `accuracy_at(rotation_error, τ)` and RTA@τ is `accuracy_at(translation_error, τ)`.
    """
    e = _tensor(errors, "errors")
    return _like((e < threshold).to(e.dtype).mean(-1) * 100, errors)


def mean_average_accuracy(rotation_error: Array, translation_error: Array, max_threshold: int = 30) -> Array:
    """mAA@T (the AUC of DUSt3R and PoseDiffusion), a percentage: (..., P) errors → (...).

    mAA@T = 100 · (1/T) · Σ_{t=1..T} P(max(rotation error, translation error) < t), with integer
    thresholds t in degrees and P the fraction of pairs. (The histogram implementation of
    PoseDiffusion closes its last bin, counting an error of exactly T as below T; here every
    comparison is strict.)
    """
    if int(max_threshold) != max_threshold or max_threshold < 1:
        raise ValueError(f"max_threshold must be a positive integer, got {max_threshold}")
    r, t = _tensor(rotation_error, "rotation_error"), _tensor(translation_error, "translation_error")
    worst = torch.maximum(r, t)
    thresholds = torch.arange(1, int(max_threshold) + 1, dtype=worst.dtype, device=worst.device)
    below = (worst[..., None, :] < thresholds[:, None]).to(worst.dtype).mean(-1)  # (..., T)
    return _like(below.mean(-1) * 100, rotation_error)


def relpose_metrics(
    pred_world_from_cam: Array,
    gt_world_from_cam: Array,
    thresholds: tuple[float, ...] = (5, 15, 30),
    max_threshold: int = 30,
) -> dict[str, float]:
    """RRA@τ, RTA@τ for each τ in `thresholds`, mAA@`max_threshold`, and the registration rate.

    Poses are (N, 4, 4) world_from_cam of one scene, N ≥ 2 (see `relative_pose_errors`). Images
    whose predicted pose is not finite count as failures in every pair they belong to. Keys:
    `RRA@5`, `RTA@5`, ..., `mAA@30` (percent), `registered` (number of images with a finite
    pose), `images`, `pairs`.
    """
    pred, gt = (
        _tensor(pred_world_from_cam, "pred_world_from_cam"),
        _tensor(gt_world_from_cam, "gt_world_from_cam"),
    )
    if pred.ndim != 3 or gt.ndim != 3:
        raise ValueError(
            f"relpose_metrics takes one scene: (N, 4, 4) poses, got {tuple(pred.shape)}, {tuple(gt.shape)}"
        )
    if not torch.isfinite(gt).all():
        raise ValueError("gt_world_from_cam contains non-finite values")
    if gt.shape[0] < 2:
        raise ValueError(f"relative pose needs at least 2 images, got {gt.shape[0]}")
    rot, trans = relative_pose_errors(pred, gt)
    out: dict[str, float] = {}
    for tau in thresholds:
        out[f"RRA@{tau:g}"] = _float(accuracy_at(rot, tau))
        out[f"RTA@{tau:g}"] = _float(accuracy_at(trans, tau))
    out[f"mAA@{max_threshold}"] = _float(mean_average_accuracy(rot, trans, max_threshold))
    out["registered"] = float(torch.isfinite(pred).flatten(-2).all(-1).sum().item())
    out["images"] = float(gt.shape[0])
    out["pairs"] = float(rot.shape[-1])
    return out


# --------------------------------------------------------------------------------------------
# Similarity alignment (shared by point clouds and trajectories)


def _umeyama(src: Tensor, dst: Tensor, weights: Tensor | None = None, with_scale: bool = True):
    from recon3r.geometry.registration import umeyama

    return umeyama(src, dst, weights=weights, with_scale=with_scale)


# --------------------------------------------------------------------------------------------
# Point clouds


def _points(x: Array, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must be (..., 3) points, got shape {arr.shape}")
    return arr.astype(np.float64, copy=False)


def nearest_neighbor_distances(query: Array, reference: Array) -> tuple[np.ndarray, np.ndarray]:
    """For each of the (N, 3) query points, the Euclidean distance to and index of its nearest
    neighbour among the (M, 3) reference points (exact, scipy cKDTree). Returns ((N,), (N,))."""
    from scipy.spatial import cKDTree

    q, r = _points(query, "query").reshape(-1, 3), _points(reference, "reference").reshape(-1, 3)
    if len(r) == 0:
        raise ValueError("reference point cloud is empty")
    dist, index = cKDTree(r).query(q, k=1)
    return np.asarray(dist, dtype=np.float64), np.asarray(index, dtype=np.int64)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, v / np.where(norm > 0, norm, 1), np.nan)


def pointmap_normals(points: Array) -> Array:
    """Unit normals (..., H, W, 3) of point maps (..., H, W, 3), from the image grid.

    n = normalize(∂P/∂x × ∂P/∂y) with central differences inside the grid and one-sided
    differences on its border; NaN where the cross product vanishes. For a camera-frame point map
    (OpenCV axes: x right, y down) of a fronto-parallel plane, n = +z, away from the camera.
    """
    p = _tensor(points, "points")
    if p.ndim < 3 or p.shape[-1] != 3 or p.shape[-2] < 2 or p.shape[-3] < 2:
        raise ValueError(f"points must be (..., H, W, 3) with H, W >= 2, got shape {tuple(p.shape)}")
    dx = torch.gradient(p, dim=-2)[0]
    dy = torch.gradient(p, dim=-3)[0]
    n = torch.linalg.cross(dx, dy, dim=-1)
    norm = torch.linalg.vector_norm(n, dim=-1, keepdim=True)
    n = torch.where(norm > 0, n / norm.clamp_min(torch.finfo(n.dtype).tiny), torch.full_like(n, float("nan")))
    return _like(n, points)


def pca_normals(points: Array, k: int = 30) -> np.ndarray:
    """Unit normals (N, 3) of a point cloud (N, 3) by PCA of neighbourhoods.

    The normal of a point is the eigenvector of the smallest eigenvalue of the covariance of its
    k nearest neighbours (itself included), as in Open3D's `estimate_normals` with a KNN search.
    The sign is arbitrary; normal consistency uses |cos|, which does not depend on it.
    """
    from scipy.spatial import cKDTree

    p = _points(points, "points").reshape(-1, 3)
    if len(p) < 3:
        raise ValueError(f"PCA normals need at least 3 points, got {len(p)}")
    k = min(k, len(p))
    _, index = cKDTree(p).query(p, k=k)
    neighbours = p[index]  # (N, k, 3)
    centred = neighbours - neighbours.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", centred, centred) / k
    _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    return vecs[:, :, 0]


def align_point_clouds(
    pred: Array,
    gt: Array,
    mode: Literal["none", "scale", "sim3", "rigid"] = "sim3",
    weights: Array | None = None,
) -> np.ndarray:
    """(4, 4) similarity T = [[s·R, t], [0, 1]] that maps corresponding pred points onto gt points.

    pred, gt: (N, 3) corresponding points (row k of each is the same pixel); weights: (N,) ≥ 0.
    - `none`: identity;
    - `scale`: s = Σ w⟨p, g⟩ / Σ w⟨p, p⟩, the least-squares scale about the origin (R = I, t = 0);
      use it when both clouds share the origin, e.g. the first camera;
    - `rigid`: R, t of Umeyama without scale; `sim3`: s, R, t of Umeyama (weighted least squares).
    """
    p, g = _points(pred, "pred").reshape(-1, 3), _points(gt, "gt").reshape(-1, 3)
    if p.shape != g.shape:
        raise ValueError(f"alignment needs corresponding points of equal shape, got {p.shape} and {g.shape}")
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    out = np.eye(4)
    if mode == "none":
        return out
    if mode == "scale":
        out[:3, :3] *= (w * (p * g).sum(-1)).sum() / (w * (p * p).sum(-1)).sum()
        return out
    if mode not in ("sim3", "rigid"):
        raise ValueError(f"unknown alignment mode {mode!r}; use 'none', 'scale', 'rigid' or 'sim3'")
    s, rot, t = _umeyama(
        torch.from_numpy(p), torch.from_numpy(g), weights=torch.from_numpy(w), with_scale=mode == "sim3"
    )
    out[:3, :3] = float(s) * rot.numpy()
    out[:3, 3] = t.numpy()
    return out


def icp(
    source: Array,
    target: Array,
    max_distance: float,
    iterations: int = 50,
    with_scale: bool = False,
    tolerance: float = 1e-9,
) -> np.ndarray:
    """Point-to-point ICP: the (4, 4) transform that moves (N, 3) `source` onto (M, 3) `target`.

    Each iteration pairs every moved source point with its nearest target point, keeps pairs
    closer than `max_distance`, and solves Umeyama (rigid, or Sim(3) with `with_scale`) on them.
    Stops after `iterations` or when the RMS of the kept pairs changes by less than `tolerance`.
    """
    from scipy.spatial import cKDTree

    src, dst = _points(source, "source").reshape(-1, 3), _points(target, "target").reshape(-1, 3)
    tree = cKDTree(dst)
    total = np.eye(4)
    previous = np.inf
    for _ in range(iterations):
        moved = src @ total[:3, :3].T + total[:3, 3]
        dist, index = tree.query(moved, k=1, distance_upper_bound=max_distance)
        keep = np.isfinite(dist)
        if keep.sum() < 3:
            break
        s, rot, t = _umeyama(
            torch.from_numpy(src[keep]), torch.from_numpy(dst[index[keep]]), with_scale=with_scale
        )
        total = np.eye(4)
        total[:3, :3] = float(s) * rot.numpy()
        total[:3, 3] = t.numpy()
        rms = float(np.sqrt((dist[keep] ** 2).mean()))
        if abs(previous - rms) < tolerance:
            break
        previous = rms
    return total


def pointcloud_metrics(
    pred_points: Array,
    gt_points: Array,
    *,
    pred_mask: Array | None = None,
    gt_mask: Array | None = None,
    align: Literal["none", "scale", "sim3"] = "none",
    icp_refine: bool = False,
    icp_max_distance: float | None = None,
    normals: Literal["pca", "grid"] = "pca",
    pred_normals: Array | None = None,
    gt_normals: Array | None = None,
    k_normals: int = 30,
) -> dict[str, float]:
    """Accuracy, completeness and normal consistency of a reconstructed point cloud.

    pred_points, gt_points: (..., 3), e.g. point maps (V, H, W, 3) or clouds (N, 3), in the same
    unit; masks (...) select the valid points. Steps, in order:
    1. alignment (`align`, see `align_point_clouds`), which needs corresponding points: pred and
       gt of the same shape, fitted on the points valid in both masks;
    2. optional ICP refinement (rigid point-to-point, `icp`) with pairs gated at
       `icp_max_distance` (default: 10% of the diagonal of the GT bounding box);
    3. with d(x, Y) the distance from x to its nearest neighbour in Y:
       - Acc = mean over pred points p of d(p, GT), `acc_med` its median;
       - Comp = mean over GT points g of d(g, pred), `comp_med` its median;
       - NC = (mean_p |⟨n_p, n_NN(p)⟩| + mean_g |⟨n_g, n_NN(g)⟩|) / 2, `nc_med` with medians.
    Normals are `pred_normals`/`gt_normals` when given, else computed with `normals`: `pca`
    (`pca_normals` with `k_normals` neighbours, as Open3D does in published evaluations) or
    `grid` (`pointmap_normals`, which needs (..., H, W, 3) point maps). They are computed before
    masking and rotated with the alignment.
    Returns keys `acc`, `acc_med`, `comp`, `comp_med`, `nc`, `nc_med`, and `chamfer` = (Acc+Comp)/2.
    """
    pred, gt = _points(pred_points, "pred_points"), _points(gt_points, "gt_points")
    pm = np.ones(pred.shape[:-1], bool) if pred_mask is None else np.asarray(_np(pred_mask), bool)
    gm = np.ones(gt.shape[:-1], bool) if gt_mask is None else np.asarray(_np(gt_mask), bool)
    if pm.shape != pred.shape[:-1] or gm.shape != gt.shape[:-1]:
        raise ValueError(
            f"masks {pm.shape}, {gm.shape} must match the points {pred.shape[:-1]}, {gt.shape[:-1]}"
        )
    pm = pm & np.isfinite(pred).all(-1)
    gm = gm & np.isfinite(gt).all(-1)
    if not pm.any() or not gm.any():
        raise ValueError("no valid points to evaluate (empty mask or non-finite points)")

    def get_normals(points: np.ndarray, mask: np.ndarray, given: Array | None) -> np.ndarray:
        if given is not None:
            return _unit(_points(given, "normals"))[mask]
        if normals == "grid":
            return np.asarray(pointmap_normals(points))[mask]
        if normals == "pca":
            return pca_normals(points[mask], k=k_normals)
        raise ValueError(f"unknown normals method {normals!r}; use 'pca' or 'grid'")

    transform = np.eye(4)
    if align != "none":
        if pred.shape != gt.shape:
            raise ValueError(
                f"align={align!r} needs corresponding points: shapes {pred.shape} and {gt.shape} differ"
            )
        both = pm & gm
        transform = align_point_clouds(pred[both], gt[both], mode=align)
    p = pred[pm] @ transform[:3, :3].T + transform[:3, 3]
    g = gt[gm]
    if icp_refine:
        if icp_max_distance is None:
            icp_max_distance = 0.1 * float(np.linalg.norm(g.max(0) - g.min(0)))
        refine = icp(p, g, max_distance=icp_max_distance)
        p = p @ refine[:3, :3].T + refine[:3, 3]
        transform = refine @ transform
    rot = transform[:3, :3] / np.cbrt(np.linalg.det(transform[:3, :3]))
    n_p = get_normals(pred, pm, pred_normals) @ rot.T
    n_g = get_normals(gt, gm, gt_normals)

    d_acc, nn_acc = nearest_neighbor_distances(p, g)
    d_comp, nn_comp = nearest_neighbor_distances(g, p)
    nc_acc = np.abs((n_p * n_g[nn_acc]).sum(-1))
    nc_comp = np.abs((n_g * n_p[nn_comp]).sum(-1))
    acc, comp = float(d_acc.mean()), float(d_comp.mean())
    return {
        "acc": acc,
        "acc_med": float(np.median(d_acc)),
        "comp": comp,
        "comp_med": float(np.median(d_comp)),
        "nc": float((np.nanmean(nc_acc) + np.nanmean(nc_comp)) / 2),
        "nc_med": float((np.nanmedian(nc_acc) + np.nanmedian(nc_comp)) / 2),
        "chamfer": (acc + comp) / 2,
    }


def chamfer_distance(pred_points: Array, gt_points: Array) -> dict[str, float]:
    """Chamfer distance of two (N, 3), (M, 3) clouds in one frame and unit, no alignment:
    `acc` = mean over p of d(p, GT), `comp` = mean over g of d(g, pred), `chamfer` = (acc + comp) / 2
    (the definitions of `pointcloud_metrics`)."""
    acc = float(nearest_neighbor_distances(pred_points, gt_points)[0].mean())
    comp = float(nearest_neighbor_distances(gt_points, pred_points)[0].mean())
    return {"acc": acc, "comp": comp, "chamfer": (acc + comp) / 2}


def _np(x: Array) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


# --------------------------------------------------------------------------------------------
# Depth

DepthAlign = Literal["none", "median", "scale", "scale&shift"]


def _depth_inputs(pred: Array, gt: Array, mask: Array | None) -> tuple[Tensor, Tensor, Tensor]:
    p, g = _tensor(pred, "pred"), _tensor(gt, "gt")
    if p.shape != g.shape or p.ndim not in (2, 3):
        raise ValueError(
            f"pred and gt depth must both be (H, W) or (F, H, W), got {tuple(p.shape)} and {tuple(g.shape)}"
        )
    p = p.to(g.dtype)
    valid = torch.isfinite(g) & (g > 0) & torch.isfinite(p)
    if mask is not None:
        m = (
            torch.as_tensor(_np(mask), device=g.device).bool()
            if not isinstance(mask, Tensor)
            else mask.bool()
        )
        if m.shape != g.shape:
            raise ValueError(f"mask shape {tuple(m.shape)} must match the depth shape {tuple(g.shape)}")
        valid = valid & m
    return p, g, valid


def _weighted_median(values: Tensor, weights: Tensor) -> Tensor:
    """The lower weighted median: the smallest v with Σ_{values ≤ v} w ≥ Σ w / 2."""
    order = torch.argsort(values)
    v, w = values[order], weights[order]
    cum = torch.cumsum(w, 0)
    k = torch.searchsorted(cum, cum[-1] / 2)
    return v[k.clamp(max=len(v) - 1)]


def _l1_scale_shift(p: Tensor, g: Tensor, iterations: int = 100) -> tuple[Tensor, Tensor]:
    """(s, b) minimising Σ|s·p + b − g| by iteratively reweighted least squares."""
    a = torch.stack([p, torch.ones_like(p)], -1)
    sol = torch.linalg.lstsq(a, g[:, None]).solution[:, 0]
    eps = 1e-9 * g.abs().mean().clamp_min(1e-30)
    for _ in range(iterations):
        w = 1 / (a @ sol - g).abs().clamp_min(eps)
        aw = a * w[:, None]
        new = torch.linalg.solve(aw.T @ a, aw.T @ g)
        if torch.allclose(new, sol, rtol=1e-12, atol=0):
            sol = new
            break
        sol = new
    return sol[0], sol[1]


def align_depth(
    pred: Array,
    gt: Array,
    mask: Array | None = None,
    mode: DepthAlign = "none",
    loss: Literal["l2", "l1"] = "l2",
) -> Array:
    """Predicted depth (H, W) or (F, H, W) aligned to GT depth with one of the published modes.

    A pixel takes part in the fit where gt > 0 and both depths are finite (and `mask`, if given).
    - `none`: unchanged (metric depth);
    - `median`: per frame f, pred_f · median(gt_f) / median(pred_f) over the frame's valid pixels;
    - `scale`: one scale s for the whole sequence, robust: s minimises Σ|s·pred − gt| over all
      valid pixels (the L1 objective of MonST3R's and CUT3R's video-depth evaluation, which they
      minimise by gradient descent), solved exactly as the weighted median of gt/pred with
      weights |pred|;
    - `scale&shift`: one (s, b) for the whole sequence minimising Σ(s·pred + b − gt)² (`loss="l2"`,
      closed-form least squares) or Σ|s·pred + b − gt| (`loss="l1"`, iteratively reweighted
      least squares). For a single frame (H, W), per sequence is per frame.
    """
    p, g, valid = _depth_inputs(pred, gt, mask)
    if not valid.any():
        raise ValueError("no valid depth pixels to align (gt must be > 0 and finite somewhere)")
    if mode == "none":
        out = p
    elif mode == "median":
        frames_p, frames_g, frames_v = (x.reshape(-1, *x.shape[-2:]) for x in (p, g, valid))
        scales = []
        for fp, fg, fv in zip(frames_p, frames_g, frames_v):
            scales.append(
                torch.quantile(fg[fv], 0.5) / torch.quantile(fp[fv], 0.5)
                if fv.any()
                else torch.tensor(float("nan"), dtype=p.dtype, device=p.device)
            )
        out = (frames_p * torch.stack(scales).to(p)[:, None, None]).reshape(p.shape)
    elif mode == "scale":
        pv, gv = p[valid], g[valid]
        nonzero = pv != 0
        out = p * _weighted_median(gv[nonzero] / pv[nonzero], pv[nonzero].abs())
    elif mode == "scale&shift":
        pv, gv = p[valid], g[valid]
        if loss == "l2":
            a = torch.stack([pv, torch.ones_like(pv)], -1)
            s, b = torch.linalg.lstsq(a, gv[:, None]).solution[:, 0]
        elif loss == "l1":
            s, b = _l1_scale_shift(pv, gv)
        else:
            raise ValueError(f"unknown loss {loss!r}; use 'l2' or 'l1'")
        out = p * s + b
    else:
        raise ValueError(f"unknown depth alignment {mode!r}; use 'none', 'median', 'scale' or 'scale&shift'")
    return _like(out, pred)


def depth_errors(pred: Array, gt: Array, mask: Array | None = None) -> dict[str, float]:
    """Depth errors over all valid pixels of (H, W) or (F, H, W) maps, pooled (no alignment).

    Valid pixels: gt > 0, both finite, and `mask`. With p the prediction and g the GT:
    - `abs_rel` = mean |p − g| / g;
    - `delta_1`, `delta_2`, `delta_3` = 100 · fraction of pixels with max(p/g, g/p) < 1.25^k for
      k = 1, 2, 3; a pixel with p ≤ 0 never counts as accurate;
    - `rmse` = sqrt(mean (p − g)²), in the unit of the GT.
    Also `pixels`, the number of valid pixels.
    """
    p, g, valid = _depth_inputs(pred, gt, mask)
    if not valid.any():
        raise ValueError("no valid depth pixels to evaluate (gt must be > 0 and finite somewhere)")
    p, g = p[valid], g[valid]
    ratio = torch.where(p > 0, torch.maximum(p / g, g / p.clamp_min(torch.finfo(p.dtype).tiny)), torch.inf)
    out = {"abs_rel": _float(((p - g).abs() / g).mean())}
    for k in (1, 2, 3):
        out[f"delta_{k}"] = _float((ratio < 1.25**k).to(p.dtype).mean() * 100)
    out["rmse"] = _float(((p - g) ** 2).mean().sqrt())
    out["pixels"] = float(p.numel())
    return out


def depth_metrics(
    pred: Array,
    gt: Array,
    mask: Array | None = None,
    align: DepthAlign = "none",
    loss: Literal["l2", "l1"] = "l2",
) -> dict[str, float]:
    """`depth_errors` after `align_depth(pred, gt, mask, align, loss)`: AbsRel, δ<1.25^k, RMSE.

    pred, gt: (H, W) for a single image or (F, H, W) for a sequence (video depth), where
    `scale` and `scale&shift` fit one alignment for the whole sequence and `median` one per frame.
    """
    return depth_errors(align_depth(pred, gt, mask, align, loss), gt, mask)


# --------------------------------------------------------------------------------------------
# Trajectories


def align_trajectory(
    pred_world_from_cam: Array, gt_world_from_cam: Array, with_scale: bool = True
) -> tuple[Array, Array, Array]:
    """Umeyama Sim(3) (or SE(3)) (s, R, t) with gt centre ≈ s·R·pred centre + t, least squares.

    Poses (..., N, 4, 4) world_from_cam; returns s (...), R (..., 3, 3), t (..., 3).
    """
    pred, gt = (
        _tensor(pred_world_from_cam, "pred_world_from_cam"),
        _tensor(gt_world_from_cam, "gt_world_from_cam"),
    )
    _check_poses(pred, "pred_world_from_cam")
    _check_poses(gt, "gt_world_from_cam")
    if pred.shape != gt.shape:
        raise ValueError(
            f"pred and gt trajectories must have the same shape, got {tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    s, rot, t = _umeyama(pred[..., :3, 3], gt[..., :3, 3].to(pred.dtype), with_scale=with_scale)
    s = torch.as_tensor(s, dtype=pred.dtype, device=pred.device)
    return _like(s, pred_world_from_cam), _like(rot, pred_world_from_cam), _like(t, pred_world_from_cam)


def transform_poses(scale: Array, rotation: Array, translation: Array, world_from_cam: Array) -> Array:
    """Move poses (..., N, 4, 4) by the world similarity x ↦ s·R·x + t; the result stays rigid.

    The camera centre c becomes s·R·c + t and the orientation R_c becomes R·R_c.
    s: (...), R: (..., 3, 3), t: (..., 3).
    """
    poses = _tensor(world_from_cam, "world_from_cam")
    s = _tensor(scale, "scale").to(poses)
    rot, t = _tensor(rotation, "rotation").to(poses), _tensor(translation, "translation").to(poses)
    out = poses.clone()
    out[..., :3, :3] = rot[..., None, :, :] @ poses[..., :3, :3]
    out[..., :3, 3] = s[..., None, None] * (poses[..., :3, 3] @ rot.transpose(-1, -2)) + t[..., None, :]
    return _like(out, world_from_cam)


def absolute_trajectory_error(
    pred_world_from_cam: Array, gt_world_from_cam: Array, with_scale: bool = True
) -> Array:
    """ATE: RMSE of camera centre positions after Umeyama alignment, in the GT unit: (..., N, 4, 4) → (...).

    ATE = sqrt(mean_i ‖s·R·c_i^pred + t − c_i^gt‖²) with (s, R, t) from `align_trajectory`
    (Sim(3) by default, SE(3) with `with_scale=False`). Invariant to the order of the frames.
    """
    pred, gt = (
        _tensor(pred_world_from_cam, "pred_world_from_cam"),
        _tensor(gt_world_from_cam, "gt_world_from_cam"),
    )
    s, rot, t = align_trajectory(pred, gt, with_scale)
    moved = s[..., None, None] * (pred[..., :3, 3] @ rot.transpose(-1, -2)) + t[..., None, :]
    err = torch.linalg.vector_norm(moved - gt[..., :3, 3].to(moved), dim=-1)
    return _like((err**2).mean(-1).sqrt(), pred_world_from_cam)


def relative_pose_error(
    pred_world_from_cam: Array, gt_world_from_cam: Array, delta: int = 1, with_scale: bool = True
) -> tuple[Array, Array]:
    """RPE over frame pairs (i, i+Δ) after the ATE alignment: (translation RMSE, rotation RMSE in degrees).

    As in evo (used by MonST3R and CUT3R): the predicted trajectory is first moved by the Umeyama
    similarity of `align_trajectory`; then for each i, with Q the GT and P the predicted poses,
    E_i = (Q_i⁻¹·Q_{i+Δ})⁻¹ · (P_i⁻¹·P_{i+Δ}); RPE_trans = sqrt(mean_i ‖t(E_i)‖²) in the GT unit and
    RPE_rot = sqrt(mean_i angle(E_i)²). Poses (..., N, 4, 4) → two tensors (...).
    """
    pred, gt = (
        _tensor(pred_world_from_cam, "pred_world_from_cam"),
        _tensor(gt_world_from_cam, "gt_world_from_cam"),
    )
    if delta < 1 or delta >= pred.shape[-3]:
        raise ValueError(f"delta must be in [1, N-1] for N = {pred.shape[-3]} frames, got {delta}")
    s, rot, t = align_trajectory(pred, gt, with_scale)
    pred = transform_poses(s, rot, t, pred)
    gt = gt.to(pred)

    def motion(poses: Tensor) -> Tensor:
        a, b = poses[..., :-delta, :, :], poses[..., delta:, :, :]
        out = torch.zeros_like(a)
        ra, rb = a[..., :3, :3], b[..., :3, :3]
        out[..., :3, :3] = ra.transpose(-1, -2) @ rb
        out[..., :3, 3] = ((b[..., :3, 3] - a[..., :3, 3])[..., None, :] @ ra)[..., 0, :]
        out[..., 3, 3] = 1
        return out

    mq, mp = motion(gt), motion(pred)
    err_rot = mq[..., :3, :3].transpose(-1, -2) @ mp[..., :3, :3]
    err_t = ((mp[..., :3, 3] - mq[..., :3, 3])[..., None, :] @ mq[..., :3, :3])[..., 0, :]
    trans = (torch.linalg.vector_norm(err_t, dim=-1) ** 2).mean(-1).sqrt()
    angle = _tensor(rotation_angle(torch.eye(3, dtype=err_rot.dtype, device=err_rot.device), err_rot))
    return _like(trans, pred_world_from_cam), _like((angle**2).mean(-1).sqrt(), pred_world_from_cam)


def trajectory_metrics(
    pred_world_from_cam: Array, gt_world_from_cam: Array, delta: int = 1, with_scale: bool = True
) -> dict[str, float]:
    """`ate`, `rpe_trans` (GT unit) and `rpe_rot` (degrees) of one trajectory (N, 4, 4), N ≥ 3."""
    pred, gt = (
        _tensor(pred_world_from_cam, "pred_world_from_cam"),
        _tensor(gt_world_from_cam, "gt_world_from_cam"),
    )
    if pred.ndim != 3 or pred.shape != gt.shape:
        raise ValueError(
            f"trajectory_metrics takes one trajectory: (N, 4, 4) poses, got {tuple(pred.shape)}, {tuple(gt.shape)}"
        )
    if not (torch.isfinite(pred).all() and torch.isfinite(gt).all()):
        raise ValueError("trajectories must be finite; drop unregistered frames or use relpose_metrics")
    trans, rot = relative_pose_error(pred, gt, delta, with_scale)
    return {
        "ate": _float(absolute_trajectory_error(pred, gt, with_scale)),
        "rpe_trans": _float(trans),
        "rpe_rot": _float(rot),
    }


# --------------------------------------------------------------------------------------------
# Images (novel views)


def _images(pred: Array, gt: Array) -> tuple[Tensor, Tensor]:
    """Two (..., H, W, C) images in [0, 1] of one shape → float64 (B, C, H, W) tensors."""
    p = _tensor(pred, "pred").double()
    g = _tensor(gt, "gt").double().to(p.device)
    if p.shape != g.shape or p.ndim < 3:
        raise ValueError(f"pred and gt must be (..., H, W, C) images of one shape, got {tuple(p.shape)}, {tuple(g.shape)}")
    return p.reshape(-1, *p.shape[-3:]).permute(0, 3, 1, 2), g.reshape(-1, *g.shape[-3:]).permute(0, 3, 1, 2)


def psnr(pred: Array, gt: Array, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio 10·log10(max² / MSE) in dB over all pixels and channels of
    (..., H, W, C) images in [0, max_value]; +inf for identical images."""
    p, g = _images(pred, gt)
    mse = float(((p - g) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(max_value**2 / mse))


def ssim(pred: Array, gt: Array, max_value: float = 1.0, window: int = 11, sigma: float = 1.5) -> float:
    """Structural similarity (Wang et al., TIP 2004) of (..., H, W, C) images in [0, max_value].

    Per channel, local means, variances and covariance are taken with a `window`² Gaussian of
    std `sigma` over the positions where it fits inside the image ("valid", as the reference
    MATLAB code); SSIM = (2·μp·μg + C1)(2·σpg + C2) / ((μp² + μg² + C1)(σp² + σg² + C2)) with
    C1 = (0.01·max)², C2 = (0.03·max)², averaged over positions, channels and images. Images
    smaller than the window use a window of their smaller side.
    """
    p, g = _images(pred, gt)
    size = min(window, p.shape[-1], p.shape[-2])
    coords = torch.arange(size, dtype=torch.float64, device=p.device) - (size - 1) / 2
    kernel_1d = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel_1d = kernel_1d / kernel_1d.sum()
    channels = p.shape[1]
    kernel = (kernel_1d[:, None] * kernel_1d[None, :]).expand(channels, 1, size, size)

    def blur(x: Tensor) -> Tensor:
        return torch.nn.functional.conv2d(x, kernel, groups=channels)

    c1, c2 = (0.01 * max_value) ** 2, (0.03 * max_value) ** 2
    mu_p, mu_g = blur(p), blur(g)
    var_p, var_g = blur(p * p) - mu_p**2, blur(g * g) - mu_g**2
    cov = blur(p * g) - mu_p * mu_g
    index = ((2 * mu_p * mu_g + c1) * (2 * cov + c2)) / ((mu_p**2 + mu_g**2 + c1) * (var_p + var_g + c2))
    return float(index.mean())


def mask_iou(pred: Array, gt: Array) -> float:
    """|pred ∧ gt| / |pred ∨ gt| of two boolean masks of one shape; 1 when both are empty."""
    p, g = np.asarray(_np(pred), bool), np.asarray(_np(gt), bool)
    if p.shape != g.shape:
        raise ValueError(f"masks must have one shape, got {p.shape} and {g.shape}")
    union = int((p | g).sum())
    return 1.0 if union == 0 else float((p & g).sum() / union)


def novel_view_metrics(pred_rgb: Array, gt_rgb: Array, pred_mask: Array | None = None,
                       gt_mask: Array | None = None) -> dict[str, float]:
    """`psnr`, `ssim` of one rendered view (H, W, 3) in [0, 1] against the GT, and `mask_iou` of
    the rendered object mask against the GT one when both are given (else NaN)."""
    iou = float("nan") if pred_mask is None or gt_mask is None else mask_iou(pred_mask, gt_mask)
    return {"psnr": psnr(pred_rgb, gt_rgb), "ssim": ssim(pred_rgb, gt_rgb), "mask_iou": iou}
