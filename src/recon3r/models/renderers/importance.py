"""Two-pass (coarse + importance) volume rendering of a radiance field in the [-1, 1]³ box.

The sampling is EG3D's importance renderer as OpenLRM modified it (out-of-box samples masked),
kept exactly so that released LRM weights render as they were trained:

1. limits: the slab test against the box; rays that miss it get t_start = the minimum valid
   t_start and t_end = the maximum valid *t_start*, both over the whole call (every view);
2. coarse depths: D stratified samples t_k = t_start + k/(D−1)·(t_end − t_start) + u_k·(t_end −
   t_start)/(D−1), u ~ U[0, 1) (`stratified_noise`); the last one lies past the exit;
3. samples with a coordinate outside [-1, 1] get colour 0 and raw density float32-min / 8;
4. `march`: consecutive pairs are averaged (colour, raw density, depth) and the density activated
   after averaging (softplus(x − 1)); the depth is clamped to the range of all depths of the call;
5. importance: the coarse weights smoothed (max-pool 2, avg-pool 2, + 0.01) define a pdf over the
   coarse midpoints (only the first D − 2 are used), inverted at u ~ U[0, 1) (`importance_noise`);
6. the fine samples are evaluated, merged with the coarse ones by depth, and marched again.

The random draws can be injected (`stratified_noise`, `importance_noise`), which makes the render
deterministic; otherwise they are drawn with `torch.rand` on the rays' device. Shapes: B ray
batches (one per view), R rays each, D coarse and Di fine samples per ray.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from recon3r.geometry.rays import ray_box_limits

#: field(points (B, P, 3)) → (rgb (B, P, 3), raw density (B, P, 1)).
Field = Callable[[Tensor], tuple[Tensor, Tensor]]

#: Raw density given to samples outside the box: float32-min / 8, which stays finite after
#: averaging two of them and gives zero density after softplus.
OUTSIDE_DENSITY = torch.finfo(torch.float32).min / 8


def density_activation(raw: Tensor) -> Tensor:
    """Raw density → density ≥ 0: softplus(raw − 1) (the −1 bias helps initialisation)."""
    return F.softplus(raw - 1)


def ray_limits(origins: Tensor, directions: Tensor, half_size: float = 1.0) -> tuple[Tensor, Tensor]:
    """(t_start, t_end) (B, R, 1) of rays (B, R, 3), with the global fill of step 1 for misses."""
    near, far, hit = ray_box_limits(origins.detach(), directions.detach(), half_size)
    near = torch.where(hit, near, torch.full_like(near, -1.0))
    far = torch.where(hit, far, torch.full_like(far, -2.0))
    if bool(hit.any()):
        near = torch.where(hit, near, near[hit].min())
        far = torch.where(hit, far, near[hit].max())
    return near[..., None], far[..., None]


def stratified_depths(t_start: Tensor, t_end: Tensor, count: int, noise: Tensor) -> Tensor:
    """Coarse depths (B, R, D, 1) between limits (B, R, 1), jittered by `noise` (B, R, D, 1) in [0, 1)."""
    steps = torch.arange(count, dtype=t_start.dtype, device=t_start.device) / (count - 1)
    span = t_end - t_start
    depths = t_start[..., None, :] + steps[:, None] * span[..., None, :]
    return depths + noise * (span / (count - 1))[..., None, :]


def evaluate_samples(field: Field, origins: Tensor, directions: Tensor, depths: Tensor, half_size: float = 1.0
                     ) -> tuple[Tensor, Tensor]:
    """Colours (B, R, S, 3) and raw densities (B, R, S, 1) at o + t·d for depths (B, R, S, 1).

    Samples outside the box get colour 0 and raw density `OUTSIDE_DENSITY`.
    """
    B, R, S, _ = depths.shape
    points = (origins[..., None, :] + depths * directions[..., None, :]).reshape(B, R * S, 3)
    inside = ((points >= -half_size) & (points <= half_size)).all(dim=-1, keepdim=True)
    rgb, sigma = field(points)
    rgb = torch.where(inside, rgb, torch.zeros_like(rgb))
    sigma = torch.where(inside, sigma, torch.full_like(sigma, OUTSIDE_DENSITY))
    return rgb.reshape(B, R, S, -1), sigma.reshape(B, R, S, 1)


def march(colors: Tensor, densities: Tensor, depths: Tensor, background: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Composite samples along rays (MipNeRF-style midpoint quadrature).

    colors (B, R, S, C), raw densities (B, R, S, 1), depths (B, R, S, 1) sorted along S,
    background (B, 1) grey or (B, C). Returns rgb (B, R, C), depth (B, R, 1) (the expected depth,
    clamped to [min, max] of all `depths`; empty rays get the maximum) and the weights
    (B, R, S − 1, 1) of the S − 1 intervals.
    """
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    colors_mid = (colors[:, :, :-1] + colors[:, :, 1:]) / 2
    densities_mid = density_activation((densities[:, :, :-1] + densities[:, :, 1:]) / 2)
    depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
    alpha = 1 - torch.exp(-densities_mid * deltas)
    transmittance = torch.cumprod(torch.cat((torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10), dim=-2), dim=-2)
    weights = alpha * transmittance[:, :, :-1]
    total = weights.sum(dim=2)
    rgb = (weights * colors_mid).sum(dim=2) + background.reshape(background.shape[0], 1, -1) * (1 - total)
    depth = (weights * depths_mid).sum(dim=2) / total
    depth = torch.nan_to_num(depth, nan=float("inf")).clamp(depths.min(), depths.max())
    return rgb, depth, weights


def importance_depths(depths: Tensor, weights: Tensor, count: int, noise: Tensor) -> Tensor:
    """Fine depths (B, R, Di, 1) drawn from the coarse weights by inverse-CDF sampling (no gradient).

    depths (B, R, D, 1) coarse depths, weights (B, R, D − 1, 1) from `march`, noise (B·R, Di) in
    [0, 1). Needs D ≥ 4.
    """
    B, R, D, _ = depths.shape
    if D < 4:
        raise ValueError(f"importance sampling needs at least 4 coarse samples per ray, got {D}")
    with torch.no_grad():
        z = depths.reshape(B * R, D)
        w = weights.reshape(B * R, D - 1).float()
        w = F.max_pool1d(w[:, None], 2, 1, padding=1)
        w = F.avg_pool1d(w, 2, 1)[:, 0] + 0.01
        bins = 0.5 * (z[:, :-1] + z[:, 1:])
        samples = sample_pdf(bins, w[:, 1:-1], noise.reshape(B * R, count))
    return samples.reshape(B, R, count, 1)


def sample_pdf(bins: Tensor, weights: Tensor, u: Tensor, eps: float = 1e-5) -> Tensor:
    """Invert the piecewise-linear CDF of `weights` (N, K) over `bins` (N, ≥ K + 1) at u (N, Di).

    The pdf is (weights + eps) normalised, the CDF [0, cumsum] (K + 1 values). Denominators below
    `eps` are replaced by 1. Only bins[:, :K + 1] are ever used.
    """
    K = weights.shape[-1]
    pdf = (weights + eps) / (weights + eps).sum(dim=-1, keepdim=True)
    cdf = torch.cat((torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=-1)), dim=-1)
    u = u.contiguous()
    index = torch.searchsorted(cdf, u, right=True)
    below, above = (index - 1).clamp_min(0), index.clamp_max(K)
    cdf_below, cdf_above = cdf.gather(1, below), cdf.gather(1, above)
    bins_below, bins_above = bins.gather(1, below), bins.gather(1, above)
    denom = cdf_above - cdf_below
    denom = torch.where(denom < eps, torch.ones_like(denom), denom)
    return bins_below + (u - cdf_below) / denom * (bins_above - bins_below)


def merge_samples(depths: tuple[Tensor, Tensor], colors: tuple[Tensor, Tensor], densities: tuple[Tensor, Tensor]
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Concatenate two sample sets along S and sort them by depth."""
    all_depths = torch.cat(depths, dim=-2)
    order = torch.argsort(all_depths, dim=-2)
    all_colors = torch.cat(colors, dim=-2)
    all_densities = torch.cat(densities, dim=-2)
    return (all_depths.gather(-2, order), all_colors.gather(-2, order.expand(-1, -1, -1, all_colors.shape[-1])),
            all_densities.gather(-2, order))


def render_rays(field: Field, origins: Tensor, directions: Tensor, background: Tensor, *, coarse_samples: int,
                fine_samples: int, stratified_noise: Tensor | None = None, importance_noise: Tensor | None = None,
                half_size: float = 1.0) -> dict[str, Tensor]:
    """Render rays (B, R, 3) (unit directions) through `field`.

    background (B, 1) or (B, C). Noise: `stratified_noise` (B, R, D, 1) and `importance_noise`
    (B·R, Di), uniform in [0, 1); drawn here when None. Returns `rgb` (B, R, C), `depth` (B, R, 1),
    `weight` (B, R, 1) (accumulated opacity), `depths_coarse` (B, R, D, 1), `depths_fine` (B, R, Di, 1).
    """
    B, R, _ = origins.shape
    t_start, t_end = ray_limits(origins, directions, half_size)
    if stratified_noise is None:
        stratified_noise = torch.rand(B, R, coarse_samples, 1, dtype=origins.dtype, device=origins.device)
    depths_coarse = stratified_depths(t_start, t_end, coarse_samples,
                                      _expect(stratified_noise, (B, R, coarse_samples, 1), "stratified_noise"))
    colors, densities = evaluate_samples(field, origins, directions, depths_coarse, half_size)
    out = {"depths_coarse": depths_coarse}
    if fine_samples > 0:
        _, _, weights = march(colors, densities, depths_coarse, background)
        if importance_noise is None:
            importance_noise = torch.rand(B * R, fine_samples, dtype=origins.dtype, device=origins.device)
        depths_fine = importance_depths(depths_coarse, weights, fine_samples,
                                        _expect(importance_noise, (B * R, fine_samples), "importance_noise"))
        colors_fine, densities_fine = evaluate_samples(field, origins, directions, depths_fine, half_size)
        depths, colors, densities = merge_samples((depths_coarse, depths_fine), (colors, colors_fine),
                                                  (densities, densities_fine))
        out["depths_fine"] = depths_fine
    else:
        depths = depths_coarse
    rgb, depth, weights = march(colors, densities, depths, background)
    return {"rgb": rgb, "depth": depth, "weight": weights.sum(dim=2), **out}


def _expect(noise: Tensor, shape: tuple[int, ...], name: str) -> Tensor:
    if noise.numel() != int(torch.Size(shape).numel()):
        raise ValueError(f"{name} must have shape {shape}, got {tuple(noise.shape)}")
    return noise.reshape(shape)
