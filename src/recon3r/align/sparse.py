"""Fast global alignment for many images: a second-order solve on a confident-pixel subsample.

The dense mode (`optimizer`) moves every pixel's depth by gradient descent, so each of its ~300
steps touches pairs × pixels values. This mode keeps each image's shape as the pair model predicted
it and solves only for similarities:

- image k keeps one reference point map P_k in its own camera frame (its most confident own-frame
  prediction) and gets (s_k, R_k, t_k): its world points are s_k·R_k·P_k + t_k, so (R_k, t_k) is its
  cam-to-world pose and s_k the scale of its depth;
- each ordered pair e gets a similarity (s_e, R_e, t_e) that carries both of its point maps
  (camera i's frame) into the world, as in the dense mode;
- the cost is the dense mode's, Σ_e Σ_sides Σ_p w·‖s_e·R_e·x_p + t_e − (s_k·R_k·P_k,p + t_k)‖, on a
  fixed subsample of at most K pixels per image (the most confident pixel of each cell of a
  ⌈√K⌉ × ⌈√K⌉ grid of the reference map's confidence, among those reaching `min_conf`), the same
  pixels for every pair that predicts the image. Memory and work per iteration grow with pairs × K, not pairs × pixels.

Solver: iteratively reweighted Levenberg–Marquardt (the norm ‖r‖ becomes the weight w/‖r‖ of a
least-squares problem at each iteration) on 7 parameters per image and per pair: a rotation vector,
a translation and a log-scale, as increments about the camera centre (R ← exp([ω]×)·R, t ← t + τ,
s ← e^σ·s, so fixing ω and τ fixes a pose exactly). The pair blocks are eliminated with a Schur
complement, which leaves a dense 7N × 7N system: a few milliseconds for N = 50. The gauge is fixed
by one anchor image (the spanning tree's first camera, whose frame is the world) or by known poses:
one known pose is held fixed with its scale, two or more fix their rotations and translations.
Start: the spanning-tree initialisation (`init`), each pair's similarity by a closed-form fit.
Finally each image's depth map is the per-pixel median of all its predictions brought into its
camera by the solved similarities (one pass over the predictions, image by image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from recon3r.align.graph import PairGraph, confidence_weights
from recon3r.align.init import Initialization
from recon3r.align.known import KnownCameras
from recon3r.geometry import apply_transform, invert_transform, make_transform
from recon3r.geometry.registration import umeyama
from recon3r.geometry.rotations import axis_angle_to_rotation, skew

#: Pixels per image in the subsample (at most; fewer when few reach the confidence threshold).
DEFAULT_SUBSAMPLE = 256
DEFAULT_MAX_ITERATIONS = 100
DEFAULT_ROUNDS = 3


@dataclass
class Similarities:
    """Batched similarities x ↦ s·R·x + t: scale (B,), rotation (B, 3, 3), translation (B, 3)."""

    scale: Tensor
    rotation: Tensor
    translation: Tensor

    def rotated(self, points: Tensor, index: Tensor | None = None) -> Tensor:
        """s·R·x for points (B', ..., K, 3); `index` (B',) picks a similarity per leading entry."""
        s, r = (self.scale, self.rotation) if index is None else (self.scale[index], self.rotation[index])
        extra = points.ndim - 3
        s = s.reshape(s.shape + (1,) * (extra + 2))
        r = r.reshape(r.shape[:1] + (1,) * extra + r.shape[1:])
        return s * points @ r.transpose(-1, -2)

    def shift(self, index: Tensor | None = None, ndim: int = 3) -> Tensor:
        """Translations shaped to broadcast against (B', ..., K, 3) points of `ndim` dimensions."""
        t = self.translation if index is None else self.translation[index]
        return t.reshape(t.shape[:1] + (1,) * (ndim - 2) + t.shape[1:])

    def updated(self, increment: Tensor) -> Similarities:
        """Apply increments (B, 7) = (ω, τ, σ) about the camera centre (see the module docstring)."""
        omega, tau, sigma = increment[:, :3], increment[:, 3:6], increment[:, 6]
        return Similarities(self.scale * sigma.exp(), axis_angle_to_rotation(omega) @ self.rotation,
                            self.translation + tau)


@dataclass
class SparseAlignment:
    """The solved scene: rigid cam-to-world poses (N, 4, 4), depth scales (N,) of the reference maps,
    the pairs' similarities and the solver's record."""

    world_from_cam: Tensor
    scales: Tensor
    pairs: Similarities
    costs: list[list[float]] = field(default_factory=list)  # per round: the cost before and after each step
    iterations: int = 0
    subsample: int = 0


def select_pixels(confidence: Tensor, count: int, min_conf: float) -> Tensor:
    """Flat indices (≤ count,) into an (H, W) map: the most confident pixel of each grid cell.

    The grid has ⌈√count⌉ × ⌈√count⌉ cells; only pixels whose confidence reaches `min_conf` are
    eligible, unless fewer than count / 4 do (then every pixel is). Spreading the subsample over the
    image keeps rotations well determined; taking the best pixel of each cell keeps it trustworthy.
    """
    if count < 1:
        raise ValueError(f"the subsample needs at least one pixel per image, got {count}")
    height, width = confidence.shape
    conf = confidence.detach().reshape(-1).double().cpu().numpy()
    eligible = conf >= min_conf
    if eligible.sum() < max(1, count // 4):
        eligible[:] = True
    cells_per_side = math.ceil(math.sqrt(count))
    rows = np.arange(height) * cells_per_side // height
    cols = np.arange(width) * cells_per_side // width
    cell = (rows[:, None] * cells_per_side + cols[None, :]).reshape(-1)
    order = np.lexsort((-conf, cell))  # by cell, most confident first
    order = order[eligible[order]]
    _, first = np.unique(cell[order], return_index=True)
    chosen = order[first]
    if len(chosen) > count:
        chosen = chosen[np.argsort(-conf[chosen], kind="stable")[:count]]
    return torch.from_numpy(np.sort(chosen)).to(confidence.device)


def reference_maps(graph: PairGraph, init: Initialization) -> tuple[list[Tensor], list[Tensor]]:
    """Per image, a point map (H_k, W_k, 3) in its own camera frame and its confidence (H_k, W_k):
    its most confident own-frame prediction, or, for an image only ever predicted in other cameras,
    its initial points brought into its camera (with the image's maximum confidence)."""
    scores = graph.edge_scores()
    best_first = sorted(range(graph.num_edges), key=lambda e: -scores[e])
    image_conf = graph.image_confidence()
    references, confidences = [], []
    for k in range(graph.num_images):
        own = next((e for e in best_first if graph.edges[e][0] == k), None)
        if own is not None:
            references.append(graph.pts_i[own])
            confidences.append(graph.conf_i[own])
        else:
            pose = init.world_from_cam[k].to(graph.pts_i[0])
            references.append(apply_transform(invert_transform(pose), init.points[k].to(pose)))
            confidences.append(image_conf[k])
    return references, confidences


def sparse_align(
    graph: PairGraph,
    init: Initialization,
    known: KnownCameras,
    intrinsics: Tensor,
    *,
    min_conf: float = 3.0,
    conf_mode: str = "log",
    subsample: int = DEFAULT_SUBSAMPLE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    tolerance: float = 1e-7,
    rounds: int = DEFAULT_ROUNDS,
) -> SparseAlignment:
    """Solve the similarities of the module docstring; float64 internally, on the graph's device.

    `intrinsics` (N, 3, 3): the cameras' K at network resolution (held fixed). Reference points lie
    on their pixels' rays, x = d·K⁻¹·(u, v, 1), so each camera's orientation is tied to its pixels
    (as the dense mode's depth maps are); only their depths d come from the predictions.
    `rounds`: solves in all; before each solve after the first, the reference depths at the
    subsample pixels are replaced by the consensus of every pair's prediction of them.
    `max_iterations` and `tolerance` (relative decrease of the cost) bound each solve.
    """
    device, dtype = graph.device, torch.float64
    n = graph.num_images
    references, reference_conf = reference_maps(graph, init)
    # Pixels the reference itself is sure of: every pair's residual at a pixel is measured against it.
    pixels = [select_pixels(reference_conf[k], subsample, min_conf) for k in range(n)]
    count = max(len(p) for p in pixels)
    index = torch.zeros(n, count, dtype=torch.long, device=device)
    valid = torch.zeros(n, count, dtype=torch.bool, device=device)
    for k, chosen in enumerate(pixels):
        index[k, : len(chosen)], valid[k, : len(chosen)] = chosen, True

    def at_pixels(values: Tensor, k: int) -> Tensor:  # (H, W[, 3]) → (count[, 3]) at image k's pixels
        return values.reshape(-1, *values.shape[2:])[index[k]].to(dtype)

    rays = _pixel_rays(index, [r.shape[:2] for r in references], intrinsics.to(device=device, dtype=dtype))
    depths = torch.stack([at_pixels(references[k][..., 2], k) for k in range(n)])  # (N, K) z-depths
    shapes = depths[..., None] * rays  # (N, K, 3) reference points on their pixels' rays, camera frames
    side_image = torch.tensor(graph.edges, dtype=torch.long, device=device)  # (E, 2): image of each side
    predicted = torch.stack([torch.stack([at_pixels(graph.pts_i[x], i), at_pixels(graph.pts_j[x], j)])
                             for x, (i, j) in enumerate(graph.edges)])  # (E, 2, K, 3) in camera i's frame
    weights = torch.stack([torch.stack([at_pixels(graph.conf_i[x], i), at_pixels(graph.conf_j[x], j)])
                           for x, (i, j) in enumerate(graph.edges)])
    weights = confidence_weights(weights, conf_mode).clamp_min(0) * valid[side_image]  # (E, 2, K)

    images, free = _initial_images(shapes, valid, init, known, reference_conf, index)
    pairs = _fit_pairs(predicted, _image_points(images, shapes, side_image).flatten(1, 2), weights)
    # Below this distance a residual counts as exact (IRLS weights stay finite): 1e-6 of the predicted depths.
    depth = torch.linalg.vector_norm(predicted, dim=-1)
    floor = 1e-6 * float((depth * (weights > 0)).sum() / (weights > 0).sum().clamp_min(1))

    costs, iterations = [], 0
    for round_ in range(rounds):
        if round_:
            shapes = _consensus_depths(images, pairs, shapes, predicted, side_image, weights, floor)[..., None] * rays
        problem = _Problem(shapes, predicted, side_image, weights, free, floor)
        images, pairs, round_costs = problem.solve(images, pairs, max_iterations, tolerance)
        costs.append(round_costs)
        iterations += len(round_costs) - 1

    world_from_cam = make_transform(images.rotation, images.translation)
    world_from_cam = torch.where(known.pose_mask.to(device)[:, None, None],
                                 known.poses.to(device=device, dtype=dtype), world_from_cam)
    return SparseAlignment(world_from_cam, images.scale, pairs, costs, iterations, count)


def fuse_depths(graph: PairGraph, fit: SparseAlignment, max_predictions: int = 8) -> list[Tensor]:
    """(H_k, W_k) z-depth per image: the per-pixel median over the predictions of image k from its
    `max_predictions` most confident pairs, each carried into the world by its pair's similarity and
    into camera k by the solved pose (bounded work: N × max_predictions maps, whatever the graph).

    Depths are floored at 1e-3 × the image's median positive depth (as the dense initialisation
    does), so a wild prediction cannot leave a pixel behind its camera.
    """
    predictions: list[list[tuple[int, Tensor]]] = [[] for _ in range(graph.num_images)]
    scores = graph.edge_scores()
    for x in sorted(range(graph.num_edges), key=lambda e: -scores[e]):
        i, j = graph.edges[x]
        for k, points in ((i, graph.pts_i[x]), (j, graph.pts_j[x])):
            if len(predictions[k]) < max_predictions:
                predictions[k].append((x, points))
    # Camera k's depth of s_e·R_e·p + t_e is a·p + b with a = s_e·(R_kᵀ R_e)[2] and b = (R_kᵀ (t_e − t_k))_z.
    rotation, centre = fit.world_from_cam[:, :3, :3], fit.world_from_cam[:, :3, 3]
    out = []
    for k, found in enumerate(predictions):
        edges = torch.tensor([x for x, _ in found], device=rotation.device)
        axis = rotation[k, :, 2]  # camera k's viewing direction in the world
        points = torch.stack([p for _, p in found])  # (M, H, W, 3)
        gain = (fit.pairs.scale[edges, None] * (axis @ fit.pairs.rotation[edges])).to(points.dtype)  # (M, 3)
        offset = ((fit.pairs.translation[edges] - centre[k]) @ axis).to(points.dtype)  # (M,)
        depth = (torch.einsum("mhwc,mc->mhw", points, gain) + offset[:, None, None]).median(dim=0).values
        positive = depth[depth > 0]
        floor = 1e-3 * (positive.median() if positive.numel() else torch.ones((), dtype=depth.dtype, device=depth.device))
        out.append(depth.clamp_min(floor))
    return out


# ------------------------------------------------------------------------------------------ pieces
def _image_points(images: Similarities, shapes: Tensor, side_image: Tensor) -> Tensor:
    """(E, 2, K, 3) world points of each pair side's image at its subsample pixels."""
    flat = side_image.reshape(-1)
    points = images.rotated(shapes[flat], flat) + images.shift(flat)
    return points.reshape(*side_image.shape, *points.shape[1:])


def _pair_points(pairs: Similarities, predicted: Tensor) -> Tensor:
    """(E, 2, K, 3) each pair's predicted points carried into the world."""
    return pairs.rotated(predicted) + pairs.shift(ndim=4)


def _initial_images(shapes: Tensor, valid: Tensor, init: Initialization, known: KnownCameras,
                    reference_conf: list[Tensor], index: Tensor) -> tuple[Similarities, Tensor]:
    """Each image's similarity fitted to its initial points; the free-parameter mask (N, 7)."""
    n, dtype, device = shapes.shape[0], shapes.dtype, shapes.device
    targets = torch.stack([init.points[k].reshape(-1, 3).to(device=device, dtype=dtype)[index[k]] for k in range(n)])
    conf = torch.stack([reference_conf[k].reshape(-1).to(device=device, dtype=dtype)[index[k]] for k in range(n)])
    scale, rotation, translation = umeyama(shapes, targets, conf * valid)
    pose_mask = known.pose_mask.to(device)
    poses = known.poses.to(device=device, dtype=dtype)
    rotation = torch.where(pose_mask[:, None, None], poses[:, :3, :3], rotation)
    translation = torch.where(pose_mask[:, None], poses[:, :3, 3], translation)
    # A known pose keeps its rotation and translation; its depth scale is the best one for them.
    rotated = shapes @ rotation.transpose(-1, -2)
    w = (conf * valid)[..., None]
    fitted = (w * rotated * (targets - translation[:, None])).sum((1, 2)) / (w * rotated**2).sum((1, 2)).clamp_min(1e-30)
    scale = torch.where(pose_mask, fitted.clamp_min(1e-12), scale)

    free = torch.ones(n, 7, dtype=torch.bool, device=device)
    if known.num_poses == 0:
        free[init.tree[0][0]] = False  # the world frame and unit: the spanning tree's first camera
    elif known.num_poses == 1:
        free[pose_mask] = False
    else:
        free[pose_mask, :6] = False
    return Similarities(scale, rotation, translation), free


def _fit_pairs(predicted: Tensor, targets: Tensor, weights: Tensor) -> Similarities:
    """Each pair's similarity by a closed-form fit of its (both sides') points onto `targets` (E, 2K, 3)."""
    scale, rotation, translation = umeyama(predicted.flatten(1, 2), targets, weights.flatten(1, 2))
    return Similarities(scale, rotation, translation)


def _pixel_rays(index: Tensor, shapes: list[tuple[int, int]], intrinsics: Tensor) -> Tensor:
    """(N, K, 3) rays K⁻¹·(u, v, 1) (z = 1) of the flat pixel indices (N, K) of images of (H, W) `shapes`."""
    widths = torch.tensor([w for _, w in shapes], device=index.device)[:, None]
    u, v = (index % widths).to(intrinsics.dtype), torch.div(index, widths, rounding_mode="floor").to(intrinsics.dtype)
    y = (v - intrinsics[:, 1, 2, None]) / intrinsics[:, 1, 1, None]
    x = (u - intrinsics[:, 0, 2, None] - intrinsics[:, 0, 1, None] * y) / intrinsics[:, 0, 0, None]
    return torch.stack((x, y, torch.ones_like(x)), dim=-1)


def _consensus_depths(images: Similarities, pairs: Similarities, shapes: Tensor, predicted: Tensor,
                      side_image: Tensor, weights: Tensor, floor: float) -> Tensor:
    """(N, K) reference depths: per image and pixel, the robust mean z of every pair's prediction of it,
    brought into the image's camera. Weights w / max(‖r‖, median ‖r‖) (Huber-like): a plain mean of
    the agreeing predictions (not the geometric median, which the prediction the reference was taken
    from, at distance 0, would decide alone), with outliers' pull capped."""
    world = _pair_points(pairs, predicted)  # (E, 2, K, 3)
    distance = torch.linalg.vector_norm(world - _image_points(images, shapes, side_image), dim=-1)
    typical = distance[weights > 0].median() if bool((weights > 0).any()) else distance.new_tensor(floor)
    irls = weights / distance.clamp_min(max(float(typical), floor))
    flat = side_image.reshape(-1)
    centred = world - images.shift(flat).reshape(*side_image.shape, 1, 3)
    axis = images.rotation[flat].reshape(*side_image.shape, 1, 3, 3)[..., 2]  # camera z axis in the world
    depth = (centred * axis).sum(-1) / images.scale[side_image][..., None]  # (E, 2, K)
    total = torch.zeros_like(shapes[..., 0]).index_add_(0, flat, (irls * depth).flatten(0, 1))
    mass = torch.zeros_like(shapes[..., 0]).index_add_(0, flat, irls.flatten(0, 1))
    return torch.where(mass > 0, total / mass.clamp_min(1e-300), shapes[..., 2])


@dataclass
class _Problem:
    """The reweighted least-squares problem of one round: fixed reference points, free similarities."""

    shapes: Tensor  # (N, K, 3) reference points in each image's camera frame
    predicted: Tensor  # (E, 2, K, 3) each pair's points at its sides' pixels, camera i's frame
    side_image: Tensor  # (E, 2) image of each side
    weights: Tensor  # (E, 2, K) confidence weights (0 for padding)
    free: Tensor  # (N, 7) image parameters the solver may change
    floor: float  # residual norm below which IRLS weights stop growing

    def residual(self, images: Similarities, pairs: Similarities) -> tuple[Tensor, Tensor]:
        """Residuals (E, 2, K, 3) in each pair's own unit (divided by s_e) and the cost Σ w·‖r‖.

        In world units, shrinking the scene away from the anchor would shrink the prediction noise
        with it and lower the cost; in the pairs' units the cost is blind to the scene's scale.
        """
        residual = _pair_points(pairs, self.predicted) - _image_points(images, self.shapes, self.side_image)
        residual = residual / pairs.scale[:, None, None, None]
        return residual, (self.weights * torch.linalg.vector_norm(residual, dim=-1)).sum()

    def solve(self, images: Similarities, pairs: Similarities, max_iterations: int, tolerance: float
              ) -> tuple[Similarities, Similarities, list[float]]:
        """Levenberg–Marquardt with IRLS weights; returns the similarities and the cost per accepted step."""
        residual, cost = self.residual(images, pairs)
        costs, damping, n = [float(cost)], 1e-4, self.shapes.shape[0]
        for _ in range(max_iterations):
            system = _normal_equations(images, pairs, self.shapes, self.predicted, self.side_image, self.weights,
                                       residual, self.floor)
            while damping < 1e10:
                step_images, step_pairs = _solve(system, self.side_image, self.free, damping, n)
                trial_images, trial_pairs = images.updated(step_images), pairs.updated(step_pairs)
                trial_residual, trial_cost = self.residual(trial_images, trial_pairs)
                if bool(torch.isfinite(trial_cost)) and trial_cost <= cost:
                    break
                damping *= 8
            else:
                break  # no step lowers the cost: converged (or stuck)
            decrease = float(cost - trial_cost) / max(float(cost), 1e-300)
            images, pairs, residual, cost = trial_images, trial_pairs, trial_residual, trial_cost
            costs.append(float(cost))
            damping = max(damping / 4, 1e-9)
            if decrease < tolerance:
                break
        return images, pairs, costs


@dataclass
class _NormalEquations:
    pair_block: Tensor  # (E, 7, 7) Σ J_eᵀ W J_e
    pair_rhs: Tensor  # (E, 7) −Σ J_eᵀ W r
    coupling: Tensor  # (E, 2, 7, 7) Σ J_eᵀ W J_k per side
    image_block: Tensor  # (N, 7, 7) Σ J_kᵀ W J_k
    image_rhs: Tensor  # (N, 7) −Σ J_kᵀ W r


def _jacobian(about_centre: Tensor, scale: Tensor) -> Tensor:
    """(…, 3, 7) derivative of scale·(s·R·x + t) w.r.t. (ω, τ, σ), given u = s·R·x (…, 3); `scale`
    broadcasts against u[..., 0]."""
    jac = about_centre.new_zeros(*about_centre.shape, 7)
    jac[..., :3] = skew(about_centre).mul_(-1)
    jac[..., 0, 3] = jac[..., 1, 4] = jac[..., 2, 5] = 1
    jac[..., 6] = about_centre
    return jac.mul_(scale[..., None, None])


def _normal_equations(images: Similarities, pairs: Similarities, shapes: Tensor, predicted: Tensor,
                      side_image: Tensor, weights: Tensor, residual: Tensor, floor: float) -> _NormalEquations:
    """Gauss–Newton blocks of the reweighted problem at the current estimate (weights w / ‖r‖)."""
    irls = weights / torch.linalg.vector_norm(residual, dim=-1).clamp_min(floor)  # (E, 2, K)
    unit = 1 / pairs.scale[:, None, None]  # residuals are in each pair's unit (÷ s_e)
    pair_jac = _jacobian(pairs.rotated(predicted), unit.expand_as(irls))  # (E, 2, K, 3, 7)
    pair_jac[..., 6] -= residual  # ∂(r / s_e)/∂σ_e also scales r itself
    flat = side_image.reshape(-1)
    image_u = images.rotated(shapes[flat], flat).reshape(*side_image.shape, *shapes.shape[1:])
    image_jac = _jacobian(image_u, -unit.expand_as(irls))
    # Sums over pixels as batched matrix products: per pair (E, 2·K·3, 7), per side (2E, K·3, 7).
    e, k = residual.shape[0], residual.shape[2]
    weighted_pair = (pair_jac * irls[..., None, None]).reshape(e, -1, 7)
    pair_block = weighted_pair.mT @ pair_jac.reshape(e, -1, 7)
    pair_rhs = -(weighted_pair.mT @ residual.reshape(e, -1, 1))[..., 0]
    coupling = (weighted_pair.reshape(2 * e, 3 * k, 7).mT @ image_jac.reshape(2 * e, 3 * k, 7)).reshape(e, 2, 7, 7)
    weighted_image = (image_jac * irls[..., None, None]).reshape(2 * e, 3 * k, 7)
    side_block = weighted_image.mT @ image_jac.reshape(2 * e, 3 * k, 7)
    side_rhs = -(weighted_image.mT @ residual.reshape(2 * e, 3 * k, 1))[..., 0]
    n = shapes.shape[0]
    image_block = side_block.new_zeros(n, 7, 7).index_add_(0, flat, side_block)
    image_rhs = side_rhs.new_zeros(n, 7).index_add_(0, flat, side_rhs)
    return _NormalEquations(pair_block, pair_rhs, coupling, image_block, image_rhs)


def _damped(block: Tensor, damping: float) -> Tensor:
    diagonal = torch.diagonal(block, dim1=-2, dim2=-1)
    eye = torch.eye(7, dtype=block.dtype, device=block.device)
    return block + (damping * diagonal + 1e-12 * (1 + diagonal.abs().amax(-1, keepdim=True)))[..., None] * eye


def _solve(system: _NormalEquations, side_image: Tensor, free: Tensor, damping: float, n: int
           ) -> tuple[Tensor, Tensor]:
    """LM step (images (N, 7), pairs (E, 7)): pair blocks eliminated, the reduced 7N system solved."""
    pair_inv = torch.linalg.inv(_damped(system.pair_block, damping))  # (E, 7, 7)
    solved_rhs = pair_inv @ system.pair_rhs[..., None]  # (E, 7, 1)
    reduced = torch.zeros(n, n, 7, 7, dtype=pair_inv.dtype, device=pair_inv.device)
    reduced[torch.arange(n), torch.arange(n)] = _damped(system.image_block, damping)
    rhs = system.image_rhs.clone()
    for a in range(2):
        coupling_a = system.coupling[:, a]  # (E, 7, 7)
        rhs.index_add_(0, side_image[:, a], -(coupling_a.mT @ solved_rhs)[..., 0])
        for b in range(2):
            block = -coupling_a.mT @ pair_inv @ system.coupling[:, b]
            reduced.index_put_((side_image[:, a], side_image[:, b]), block, accumulate=True)
    matrix = reduced.permute(0, 2, 1, 3).reshape(7 * n, 7 * n)
    mask = free.reshape(-1)
    step = torch.zeros(7 * n, dtype=matrix.dtype, device=matrix.device)
    if bool(mask.any()):
        sub = matrix[mask][:, mask]
        sub = (sub + sub.T) / 2
        factor, info = torch.linalg.cholesky_ex(sub)
        if int(info) == 0:
            step[mask] = torch.cholesky_solve(rhs.reshape(-1)[mask][:, None], factor)[:, 0]
        else:
            step[mask] = torch.linalg.lstsq(sub, rhs.reshape(-1)[mask][:, None]).solution[:, 0]
    image_step = step.reshape(n, 7)
    coupled = sum(system.coupling[:, a] @ image_step[side_image[:, a]][..., None] for a in range(2))
    pair_step = (pair_inv @ (system.pair_rhs[..., None] - coupled))[..., 0]
    return image_step, pair_step
