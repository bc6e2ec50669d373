"""Camera pose from 3D points and their pixels (PnP), robust to outliers, in plain torch.

Hypotheses come from small random subsets solved by orthogonal iteration (Lu, Hager and
Mjolsness 2000), which needs no special case for planar scenes; each is scored on the
reprojection error (MSAC), the best is refined on its inliers by orthogonal iteration and then
by Gauss-Newton on the reprojection error, optionally with the focal length as a free parameter.
Conventions: OpenCV axes, pixels (x=col, y=row), the result maps world to camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from recon3r.geometry import make_transform


@dataclass
class PnPResult:
    """A camera found by PnP: `cam_from_world` (4, 4), `focal` () in pixels, `inliers` (M,) bool."""

    cam_from_world: Tensor
    focal: Tensor
    inliers: Tensor

    @property
    def num_inliers(self) -> int:
        return int(self.inliers.sum())


def solve_pnp(
    points: Tensor,
    pixels: Tensor,
    intrinsics: Tensor,
    *,
    weights: Tensor | None = None,
    threshold: float = 5.0,
    hypotheses: int = 64,
    sample_size: int = 6,
    refine_focal: bool = False,
    generator: torch.Generator | None = None,
) -> PnPResult:
    """Robustly estimate the pose of a pinhole camera that sees `points` at `pixels`.

    Args:
        points: (M, 3) world points, M ≥ `sample_size`.
        pixels: (M, 2) their observed pixels (x, y).
        intrinsics: (3, 3) K at the pixels' resolution (fx, fy, cx, cy used).
        weights: (M,) optional non-negative confidences for the refinement.
        threshold: inlier reprojection error in pixels.
        hypotheses: number of random subsets; each is tried from four starting rotations.
        sample_size: points per subset.
        refine_focal: also refine one focal length (fx = fy) in the final Gauss-Newton steps.
        generator: random generator for the subsets (reproducible results).

    Returns:
        `PnPResult` with cam_from_world (4, 4), the focal used (refined or fx) and the inliers.
    """
    if points.ndim != 2 or points.shape[-1] != 3 or pixels.shape != (points.shape[0], 2):
        raise ValueError(
            f"expected points (M, 3) and pixels (M, 2), got {tuple(points.shape)} and {tuple(pixels.shape)}"
        )
    if points.shape[0] < sample_size:
        raise ValueError(f"PnP needs at least {sample_size} points, got {points.shape[0]}")
    if weights is None:
        weights = torch.ones_like(points[:, 0])
    focal = intrinsics[0, 0].clone()
    aspect = intrinsics[1, 1] / intrinsics[0, 0]
    principal = intrinsics[:2, 2]

    rays = _rays(pixels, focal, aspect, principal)
    rotation, translation, _ = _ransac(
        points, rays, pixels, focal, aspect, principal, threshold, hypotheses, sample_size, generator
    )
    inliers = _inliers(points, pixels, rotation, translation, focal, aspect, principal, threshold)
    for _ in range(2):
        if inliers.sum() < sample_size:
            break
        # Orthogonal iteration on at most 8192 inliers, Gauss-Newton below on all of them.
        chosen = inliers.nonzero()[:, 0]
        chosen = chosen[
            torch.linspace(0, len(chosen) - 1, min(len(chosen), 8192), device=chosen.device).long()
        ]
        rotation, translation = _orthogonal_iteration(
            points[chosen][None], rays[chosen][None], weights[chosen][None], rotation[None], 30
        )
        rotation, translation = rotation[0], translation[0]
        inliers = _inliers(points, pixels, rotation, translation, focal, aspect, principal, threshold)
    if inliers.sum() >= sample_size:
        rotation, translation, focal = _gauss_newton(
            points[inliers],
            pixels[inliers],
            weights[inliers],
            rotation,
            translation,
            focal,
            aspect,
            principal,
            refine_focal,
        )
        inliers = _inliers(points, pixels, rotation, translation, focal, aspect, principal, threshold)
    return PnPResult(make_transform(rotation, translation), focal, inliers)


def solve_pnp_unknown_focal(
    points: Tensor,
    pixels: Tensor,
    principal_point: Tensor,
    image_size: tuple[int, int],
    *,
    weights: Tensor | None = None,
    threshold: float = 5.0,
    candidates: int = 15,
    generator: torch.Generator | None = None,
) -> PnPResult:
    """PnP for a camera whose focal length is unknown (square pixels, known principal point).

    Runs the hypothesis stage for `candidates` focals spaced geometrically over
    [0.5, 3]·max(H, W), keeps the focal whose best hypothesis scores best, then solves and
    refines pose and focal jointly from there. `image_size` is (H, W).
    """
    side = max(image_size)
    focals = torch.logspace(math.log10(side / 2.0), math.log10(side * 3.0), candidates, dtype=points.dtype)
    one = torch.ones((), dtype=points.dtype, device=points.device)
    principal = principal_point.to(points)
    costs = []
    for f in focals.tolist():
        focal = f * one
        rays = _rays(pixels, focal, one, principal)
        *_, cost = _ransac(points, rays, pixels, focal, one, principal, threshold, 16, 6, generator)
        costs.append(float(cost))
    best = float(focals[min(range(candidates), key=costs.__getitem__)])
    return solve_pnp(
        points,
        pixels,
        _intrinsics(best, principal),
        weights=weights,
        threshold=threshold,
        refine_focal=True,
        generator=generator,
    )


def _intrinsics(focal: float, principal_point: Tensor) -> Tensor:
    k = torch.eye(3, dtype=principal_point.dtype)
    k[0, 0] = k[1, 1] = focal
    k[:2, 2] = principal_point.cpu()
    return k.to(principal_point.device)


def _rays(pixels: Tensor, focal: Tensor, aspect: Tensor, principal: Tensor) -> Tensor:
    """(M, 3) normalised viewing rays (x/z, y/z, 1)."""
    xy = (pixels - principal) / torch.stack([focal, focal * aspect])
    return torch.cat([xy, torch.ones_like(xy[:, :1])], dim=-1)


def _reprojection_error(points, pixels, rotation, translation, focal, aspect, principal):
    """Pixel errors (..., M) of points under poses (..., 3, 3), (..., 3); and camera depths."""
    cam = points @ rotation.transpose(-1, -2) + translation[..., None, :]
    z = cam[..., 2]
    proj = cam[..., :2] / z.clamp_min(1e-12)[..., None] * torch.stack([focal, focal * aspect]) + principal
    return (proj - pixels).norm(dim=-1), z


def _inliers(points, pixels, rotation, translation, focal, aspect, principal, threshold) -> Tensor:
    error, z = _reprojection_error(points, pixels, rotation, translation, focal, aspect, principal)
    return (error < threshold) & (z > 0)


def _ransac(points, rays, pixels, focal, aspect, principal, threshold, hypotheses, sample_size, generator):
    count = points.shape[0]
    device, dtype = points.device, points.dtype
    gen_device = generator.device if generator is not None else "cpu"
    # Rare repeated points only make a hypothesis poor; it then loses the vote.
    subsets = torch.randint(count, (hypotheses, sample_size), generator=generator, device=gen_device).to(
        device
    )
    starts = _starting_rotations(dtype, device)  # (4, 3, 3)
    subsets = subsets.repeat_interleave(len(starts), dim=0)
    init = starts.repeat(hypotheses, 1, 1)
    sample_weights = torch.ones(subsets.shape, dtype=dtype, device=device)
    rotation, translation = _orthogonal_iteration(points[subsets], rays[subsets], sample_weights, init, 25)

    # Score on at most 4096 points: plenty to rank hypotheses.
    score_idx = torch.randint(count, (min(count, 4096),), generator=generator, device=gen_device).to(device)
    error, z = _reprojection_error(
        points[score_idx], pixels[score_idx], rotation, translation, focal, aspect, principal
    )
    cost = torch.where(
        z > 0, error.square().clamp_max(threshold**2), torch.full_like(error, threshold**2)
    ).sum(-1)
    cost = torch.where(torch.isfinite(cost), cost, torch.full_like(cost, float("inf")))
    best = int(cost.argmin())
    return rotation[best], translation[best], cost[best]


def _starting_rotations(dtype, device) -> Tensor:
    """Identity and the half-turns / quarter-turns about the y axis: starts for orthogonal iteration."""
    out = []
    for angle in (0.0, 0.5, -0.5, 1.0):
        c, s = torch.cos(torch.tensor(angle * torch.pi)), torch.sin(torch.tensor(angle * torch.pi))
        out.append(torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]]))
    return torch.stack(out).to(device=device, dtype=dtype)


def _orthogonal_iteration(points: Tensor, rays: Tensor, weights: Tensor, rotation: Tensor, iterations: int):
    """Batched orthogonal iteration: points (B, n, 3), rays (B, n, 3), weights (B, n), R (B, 3, 3).

    Minimises the object-space error Σ w‖(I − V)(R·p + t)‖², V the projector on each ray:
    t is solved in closed form for the current R, then R re-fitted to the points moved onto
    their rays.
    """
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)
    ray_sq = rays.square().sum(-1)
    eye = torch.eye(3, dtype=points.dtype, device=points.device)
    normal = eye - torch.einsum("bn,bni,bnj->bij", w / ray_sq, rays, rays)  # Σ w (I − V)
    normal_inv = torch.linalg.pinv(_finite_or_identity(normal))

    def onto_rays(x: Tensor) -> Tensor:
        return rays * ((rays * x).sum(-1) / ray_sq)[..., None]

    def best_translation(rotated: Tensor) -> Tensor:
        moment = (w[..., None] * (rotated - onto_rays(rotated))).sum(-2)
        return -(normal_inv @ moment[..., None])[..., 0]

    for _ in range(iterations):
        rotated = points @ rotation.transpose(-1, -2)
        translation = best_translation(rotated)
        rotation = _fit_rotation(points, onto_rays(rotated + translation[:, None, :]), w)
    return rotation, best_translation(points @ rotation.transpose(-1, -2))


def _fit_rotation(source: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Batched weighted Procrustes rotation R (B, 3, 3) minimising Σ w‖R(p − p̄) − (q − q̄)‖².

    The same fit as `umeyama(..., with_scale=False)`, with the 3×3 determinant written out:
    `torch.linalg.det` on many tiny matrices dominates the run time on CPU.
    """
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)
    source = source - (w[..., None] * source).sum(-2, keepdim=True)
    target = target - (w[..., None] * target).sum(-2, keepdim=True)
    covariance = torch.einsum("bn,bni,bnj->bij", w, target, source)
    u, _, vh = torch.linalg.svd(_finite_or_identity(covariance))
    sign = torch.where(_det3(u) * _det3(vh) < 0, -1.0, 1.0).to(u.dtype)
    u = torch.cat([u[..., :2], u[..., 2:] * sign[:, None, None]], dim=-1)
    return u @ vh


def _finite_or_identity(matrices: Tensor) -> Tensor:
    """(B, 3, 3) with every matrix holding NaN or inf replaced by the identity (a hopeless hypothesis
    from degenerate points then scores badly instead of failing the SVD)."""
    finite = torch.isfinite(matrices).flatten(-2).all(-1)
    if bool(finite.all()):
        return matrices
    eye = torch.eye(3, dtype=matrices.dtype, device=matrices.device)
    return torch.where(finite[..., None, None], matrices, eye)


def _det3(m: Tensor) -> Tensor:
    return (
        m[..., 0, 0] * (m[..., 1, 1] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 1])
        - m[..., 0, 1] * (m[..., 1, 0] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 0])
        + m[..., 0, 2] * (m[..., 1, 0] * m[..., 2, 1] - m[..., 1, 1] * m[..., 2, 0])
    )


def _skew(v: Tensor) -> Tensor:
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*v.shape, 3)


def _rotation_exp(omega: Tensor) -> Tensor:
    """Rodrigues' formula for a (3,) rotation vector."""
    angle = omega.norm()
    k = _skew(omega)
    if angle < 1e-12:
        return torch.eye(3, dtype=omega.dtype, device=omega.device) + k
    return (
        torch.eye(3, dtype=omega.dtype, device=omega.device)
        + torch.sin(angle) / angle * k
        + (1 - torch.cos(angle)) / angle**2 * (k @ k)
    )


def _gauss_newton(
    points, pixels, weights, rotation, translation, focal, aspect, principal, refine_focal, steps=8
):
    """Minimise Σ w‖π(K(R·p + t)) − x‖² with a damped Gauss-Newton over (ω, t[, log f])."""
    focal = focal.clone()
    w = (weights / weights.mean().clamp_min(1e-12)).sqrt()
    params = 7 if refine_focal else 6
    for _ in range(steps):
        cam = points @ rotation.T + translation
        z = cam[:, 2].clamp_min(1e-12)
        scale = torch.stack([focal, focal * aspect])
        normalised = cam[:, :2] / z[:, None]
        residual = (normalised * scale + principal - pixels) * w[:, None]  # (M, 2)
        # d(projection)/d(cam point): (M, 2, 3)
        d_proj = torch.zeros(cam.shape[0], 2, 3, dtype=cam.dtype, device=cam.device)
        d_proj[:, 0, 0] = scale[0] / z
        d_proj[:, 1, 1] = scale[1] / z
        d_proj[:, :, 2] = -scale * normalised / z[:, None]
        # left perturbation R ← exp(ω)R: d(cam)/dω = −[R p]×, d(cam)/dt = I
        d_omega = d_proj @ -_skew(cam - translation)
        jac = [d_omega, d_proj]
        if refine_focal:
            jac.append((normalised * scale)[..., None])  # d/d(log f)
        jacobian = torch.cat(jac, dim=-1) * w[:, None, None]  # (M, 2, P)
        jacobian = jacobian.reshape(-1, params)
        hessian = jacobian.T @ jacobian
        hessian = (
            hessian
            + 1e-6 * torch.diag(hessian.diagonal()).clamp_min(0)
            + 1e-12 * torch.eye(params, dtype=cam.dtype, device=cam.device)
        )
        if not bool(torch.isfinite(hessian).all()):
            break
        step, info = torch.linalg.solve_ex(hessian, jacobian.T @ residual.reshape(-1))
        if int(info) != 0 or not torch.isfinite(step).all():  # singular: keep the current estimate
            break
        step = -step
        rotation = _rotation_exp(step[:3]) @ rotation
        translation = translation + step[3:6]
        if refine_focal:
            focal = focal * torch.exp(step[6])
    return rotation, translation, focal
