"""N-view global alignment: fit one scene to every pair prediction by gradient descent.

Unknowns, as in DUSt3R's point-cloud optimiser:
- per image a depth map, a focal length, optionally a principal point, and a cam-to-world pose;
- per pair a similarity [[s·R, s·T], [0, 1]] that carries its two point maps into the world.
The loss is the confidence-weighted distance between each pair's aligned point maps and the
points that the image depth maps, intrinsics and poses unproject to:
  Σ_e Σ_pixels w·‖X_world(i) − P_e·pts_i‖ / area_i + (the same for the j side),
with w the transformed confidence. Without two fixed poses the pairwise scales are normalised
to a geometric mean of `base_scale`, which removes the collapse to a zero-size scene. With two
or more, the known poses fix the scale and the loss is divided by the pairwise scales'
geometric mean over `base_scale`: the reference's plain loss then keeps shrinking the scene.
Depths and scales are stored as logarithms, focals as `focal_break`·log f, so that Adam's
steps are relative changes. Images with known intrinsics, focals or poses read those values
from buffers (through a mask), so they stay exactly fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recon3r.align.graph import PairGraph, confidence_weights
from recon3r.align.init import Initialization
from recon3r.align.known import KnownCameras
from recon3r.align.parametrization import (
    matrix_to_quaternion,
    quaternion_to_matrix,
    signed_expm1,
    signed_log1p,
)
from recon3r.geometry import apply_transform, invert_transform, make_transform, pixel_grid
from recon3r.geometry.registration import umeyama
from recon3r.utils.cancel import CancelCheck, raise_if_cancelled
from recon3r.utils.progress import progress as progress_bar

SCHEDULES = ("cosine", "linear")


@dataclass
class _EdgeBucket:
    """The edges whose image on one side (i or j) has one shape: stacked predictions of that side."""

    edges: Tensor  # (E_b,) edge indices
    group: int  # image group holding those images
    slots: Tensor  # (E_b,) position of each edge's image inside the group
    points: Tensor  # (E_b, 3, H·W) predicted points in camera i's frame, channels first
    weights: Tensor  # (E_b, H·W) loss weights (transformed confidence)
    conf: Tensor  # (E_b, H·W) raw confidence (for the initial registration)


class SceneOptimizer(nn.Module):
    """Differentiable scene for global alignment; `forward()` returns the loss.

    Args:
        graph: the validated pair predictions.
        known: user-fixed intrinsics, focals and poses.
        conf_mode: confidence transform for the loss weights (`confidence_weights`).
        optimize_pp: also optimise the principal points of images without known intrinsics.
        base_scale: geometric mean of the pairwise scales when they are normalised.
        focal_break: focal parametrisation factor, log f = parameter / focal_break.
        pp_break: principal point = default + pp_break · parameter (pixels).
    """

    def __init__(
        self,
        graph: PairGraph,
        known: KnownCameras,
        *,
        conf_mode: str = "log",
        optimize_pp: bool = False,
        base_scale: float = 0.5,
        focal_break: float = 20.0,
        pp_break: float = 10.0,
    ) -> None:
        super().__init__()
        device, dtype = graph.device, graph.dtype
        self.shapes = list(graph.shapes)
        self.num_images, self.num_edges = graph.num_images, graph.num_edges
        self.base_scale, self.focal_break, self.pp_break = base_scale, focal_break, pp_break
        self.norm_pw_scale = known.num_poses < 2
        self.known = known

        # Images grouped by shape, so that every group is one batched tensor.
        by_shape: dict[tuple[int, int], list[int]] = {}
        for k, shape in enumerate(self.shapes):
            by_shape.setdefault(shape, []).append(k)
        self.groups = [(shape, members) for shape, members in by_shape.items()]
        self.group_of = {
            k: (g, slot) for g, (_, members) in enumerate(self.groups) for slot, k in enumerate(members)
        }
        for g, ((h, w), members) in enumerate(self.groups):
            self.register_buffer(
                f"_grid{g}", pixel_grid(h, w, device=device, dtype=dtype).reshape(-1, 2), persistent=False
            )
            self.register_buffer(f"_members{g}", torch.tensor(members, device=device), persistent=False)
        self.log_depths = nn.ParameterList(
            [
                nn.Parameter(torch.zeros(len(members), h * w, device=device, dtype=dtype))
                for (h, w), members in self.groups
            ]
        )

        n, e = self.num_images, self.num_edges
        self.quaternions = nn.Parameter(
            torch.tensor([0.0, 0.0, 0.0, 1.0], device=device, dtype=dtype).repeat(n, 1)
        )
        self.translations = nn.Parameter(torch.zeros(n, 3, device=device, dtype=dtype))
        self.focals = nn.Parameter(torch.zeros(n, device=device, dtype=dtype))
        self.principal_offsets = nn.Parameter(
            torch.zeros(n, 2, device=device, dtype=dtype), requires_grad=optimize_pp
        )
        self.pair_quaternions = nn.Parameter(
            torch.tensor([0.0, 0.0, 0.0, 1.0], device=device, dtype=dtype).repeat(e, 1)
        )
        self.pair_translations = nn.Parameter(torch.zeros(e, 3, device=device, dtype=dtype))
        self.pair_log_scales = nn.Parameter(torch.zeros(e, device=device, dtype=dtype))

        centre = torch.tensor(
            [((w - 1) / 2, (h - 1) / 2) for h, w in self.shapes], device=device, dtype=dtype
        )
        self.register_buffer("default_principal", centre, persistent=False)
        self.register_buffer("known_pose_mask", known.pose_mask.to(device), persistent=False)
        self.register_buffer("known_poses", known.poses.to(device=device, dtype=dtype), persistent=False)
        self.register_buffer("known_focal_mask", known.focal_mask.to(device), persistent=False)
        self.register_buffer("known_focals", known.focals.to(device=device, dtype=dtype), persistent=False)
        self.register_buffer("known_intrinsics_mask", known.intrinsics_mask.to(device), persistent=False)
        self.register_buffer(
            "known_intrinsics", known.intrinsics.to(device=device, dtype=dtype), persistent=False
        )

        self.buckets = {side: self._make_buckets(graph, side, conf_mode) for side in ("i", "j")}
        self.areas = {
            side: float(sum(b.weights.numel() for b in buckets))
            for side, buckets in self.buckets.items()
        }

    def _make_buckets(self, graph: PairGraph, side: str, conf_mode: str) -> list[_EdgeBucket]:
        by_group: dict[int, list[int]] = {}
        for e, edge in enumerate(graph.edges):
            by_group.setdefault(self.group_of[edge[0] if side == "i" else edge[1]][0], []).append(e)
        points, confs = (graph.pts_i, graph.conf_i) if side == "i" else (graph.pts_j, graph.conf_j)
        buckets = []
        for g, edges in sorted(by_group.items()):
            conf = torch.stack([confs[e].reshape(-1) for e in edges])
            buckets.append(
                _EdgeBucket(
                    edges=torch.tensor(edges, device=graph.device),
                    group=g,
                    slots=torch.tensor(
                        [self.group_of[graph.edges[e][0 if side == "i" else 1]][1] for e in edges],
                        device=graph.device,
                    ),
                    points=torch.stack([points[e].reshape(-1, 3).T for e in edges]),
                    weights=confidence_weights(conf, conf_mode).clamp_min(0),  # log of conf < 1
                    conf=conf,
                )
            )
        return buckets

    # --- initialisation ---------------------------------------------------------------------------

    @torch.no_grad()
    def initialize(self, init: Initialization) -> None:
        """Set every parameter from an initial state (poses, focals, world points).

        Each pair's similarity is fitted to the initial points of its image i; when scales are
        normalised, the whole initial scene is rescaled (about the fixed camera, if one) so that
        it already satisfies the normalisation.
        """
        dtype, device = self.quaternions.dtype, self.quaternions.device
        world_from_cam = init.world_from_cam.to(device=device, dtype=dtype).clone()
        points = [p.to(device=device, dtype=dtype) for p in init.points]

        scales = torch.ones(self.num_edges, dtype=dtype, device=device)
        rotations = torch.eye(3, dtype=dtype, device=device).repeat(self.num_edges, 1, 1)
        translations = torch.zeros(self.num_edges, 3, dtype=dtype, device=device)
        for bucket in self.buckets["i"]:
            members = self.groups[bucket.group][1]
            target = torch.stack([points[members[int(slot)]].reshape(-1, 3) for slot in bucket.slots])
            s, r, t = umeyama(bucket.points.transpose(1, 2), target, bucket.conf)
            scales[bucket.edges], rotations[bucket.edges], translations[bucket.edges] = s, r, t

        if self.norm_pw_scale:
            factor = self.base_scale / torch.exp(scales.log().mean())
            centre = torch.zeros(3, dtype=dtype, device=device)
            if self.known.num_poses == 1:
                centre = self.known_poses[self.known_pose_mask][0, :3, 3]
            scales = scales * factor
            translations = centre + factor * (translations - centre)
            world_from_cam[:, :3, 3] = centre + factor * (world_from_cam[:, :3, 3] - centre)
            points = [centre + factor * (p - centre) for p in points]

        self.pair_quaternions.copy_(matrix_to_quaternion(rotations))
        self.pair_translations.copy_(signed_log1p(translations / scales[:, None]))
        self.pair_log_scales.copy_(scales.log())
        self.quaternions.copy_(matrix_to_quaternion(world_from_cam[:, :3, :3]))
        self.translations.copy_(signed_log1p(world_from_cam[:, :3, 3]))
        focal = init.focals.to(device=device, dtype=dtype).mean(-1)
        self.focals.copy_(self.focal_break * focal.log())
        self.principal_offsets.copy_(
            (init.principal_points.to(device=device, dtype=dtype) - self.default_principal) / self.pp_break
        )

        # Depth maps: z of the initial points in each (possibly known) camera; kept positive.
        poses = self.world_from_cam()
        for g, (_, members) in enumerate(self.groups):
            for slot, k in enumerate(members):
                depth = apply_transform(invert_transform(poses[k]), points[k].reshape(-1, 3))[:, 2]
                positive = depth[depth > 0]
                floor = 1e-3 * (
                    positive.median() if positive.numel() else torch.ones((), dtype=dtype, device=device)
                )
                self.log_depths[g][slot] = depth.clamp_min(floor).log()

    # --- the scene ---------------------------------------------------------------------------------

    def world_from_cam(self) -> Tensor:
        """(N, 4, 4) cam-to-world poses; known poses exactly as given."""
        estimated = make_transform(quaternion_to_matrix(self.quaternions), signed_expm1(self.translations))
        return torch.where(self.known_pose_mask[:, None, None], self.known_poses, estimated)

    def intrinsics(self) -> Tensor:
        """(N, 3, 3) pinhole K; known intrinsics or focals exactly as given."""
        focal = torch.exp(self.focals / self.focal_break)[:, None].expand(-1, 2)
        focal = torch.where(self.known_focal_mask[:, None], self.known_focals, focal)
        principal = self.default_principal + self.pp_break * self.principal_offsets
        k = torch.zeros(self.num_images, 3, 3, dtype=focal.dtype, device=focal.device)
        k[:, 0, 0], k[:, 1, 1] = focal[:, 0], focal[:, 1]
        k[:, :2, 2] = principal
        k[:, 2, 2] = 1
        return torch.where(self.known_intrinsics_mask[:, None, None], self.known_intrinsics, k)

    def depth_maps(self) -> list[Tensor]:
        """(H_k, W_k) z-depth per image."""
        out: list[Tensor | None] = [None] * self.num_images
        for g, ((h, w), members) in enumerate(self.groups):
            depths = self.log_depths[g].exp()
            for slot, k in enumerate(members):
                out[k] = depths[slot].reshape(h, w)
        return out  # type: ignore[return-value]

    def group_points(self) -> list[Tensor]:
        """World points per image group, (n_g, H·W, 3)."""
        return [points.transpose(1, 2) for points in self.group_points_planar()]

    def group_points_planar(self) -> list[Tensor]:
        """World points per image group, channels first: (n_g, 3, H·W)."""
        poses, k = self.world_from_cam(), self.intrinsics()
        out = []
        for g in range(len(self.groups)):
            members = getattr(self, f"_members{g}")
            grid = getattr(self, f"_grid{g}")
            depth = self.log_depths[g].exp()
            kg = k[members]
            y = (grid[:, 1] - kg[:, 1, 2, None]) / kg[:, 1, 1, None]
            x = (grid[:, 0] - kg[:, 0, 2, None] - kg[:, 0, 1, None] * y) / kg[:, 0, 0, None]
            cam = torch.stack([x * depth, y * depth, depth], dim=1)
            pose = poses[members]
            out.append(torch.baddbmm(pose[:, :3, 3, None], pose[:, :3, :3], cam))
        return out

    def world_points(self) -> list[Tensor]:
        """(H_k, W_k, 3) world points per image."""
        out: list[Tensor | None] = [None] * self.num_images
        for pts, ((h, w), members) in zip(self.group_points(), self.groups):
            for slot, k in enumerate(members):
                out[k] = pts[slot].reshape(h, w, 3)
        return out  # type: ignore[return-value]

    def pair_transforms(self) -> Tensor:
        """(E, 4, 4) similarities [[s·R, s·T], [0, 1]] from each pair's camera-i frame to the world."""
        log_scale = self.pair_log_scales
        if self.norm_pw_scale:
            log_scale = log_scale - log_scale.mean() + math.log(self.base_scale)
        scale = log_scale.exp()
        translation = scale[:, None] * signed_expm1(self.pair_translations)
        return make_transform(quaternion_to_matrix(self.pair_quaternions), translation, scale)

    def forward(self) -> Tensor:
        """The confidence-weighted alignment loss (a scalar)."""
        transforms = self.pair_transforms()
        world = self.group_points_planar()
        loss = 0.0
        for side, buckets in self.buckets.items():
            side_loss = 0.0
            for bucket in buckets:
                affine = transforms[bucket.edges]
                side_loss = side_loss + _AlignmentDistanceSum.apply(
                    world[bucket.group], affine[:, :3, :3], affine[:, :3, 3], bucket.points, bucket.weights,
                    bucket.slots,
                )
            loss = loss + side_loss / self.areas[side]
        if not self.norm_pw_scale:
            # Residuals grow with the scene's scale, so with a free global scale the plain loss
            # keeps shrinking the scene around the fixed cameras (about 10 % per 200 steps on
            # noisy predictions). Measuring them relative to the mean pairwise scale removes that
            # pull; with normalised scales this factor is exactly 1, the reference loss.
            loss = loss * (self.base_scale / self.pair_log_scales.mean().exp())
        return loss  # type: ignore[return-value]


class _AlignmentDistanceSum(torch.autograd.Function):
    """Σ_e Σ_p w_ep·‖X[slot_e, :, p] − (M_e·x_ep + t_e)‖ with a hand-written backward, channels first.

    X (n, 3, P) world points of n images; M (E, 3, 3) and t (E, 3) the similarity of each edge
    (s·R, s·T); x (E, 3, P) its predicted points; w (E, P) weights; slots (E,) the image of each edge.
    The same value and gradients as plain autograd on `(r.norm(dim=1) * w).sum()` (0 where r = 0),
    in about a third of the time: with the coordinates as planes every operation streams over
    contiguous rows (an (…, 3) layout makes the norm and the 3×3 products crawl on the CPU), the
    forward leaves w·r/‖r‖ behind instead of its intermediates, and nothing else is allocated.
    """

    @staticmethod
    def forward(ctx, X: Tensor, M: Tensor, t: Tensor, x: Tensor, w: Tensor, slots: Tensor) -> Tensor:
        residual = X.index_select(0, slots).sub_(t[:, :, None]).baddbmm_(M, x, alpha=-1)
        r0, r1, r2 = residual.unbind(1)
        norm = torch.addcmul(torch.addcmul(r0 * r0, r1, r1), r2, r2).sqrt_()
        loss = torch.dot(norm.reshape(-1), w.reshape(-1))
        factor = w / norm.clamp_min_(torch.finfo(norm.dtype).tiny)
        ctx.save_for_backward(residual.mul_(factor[:, None, :]), x, slots)  # ∂loss/∂r = w·r/‖r‖
        ctx.num_images = X.shape[0]
        return loss

    @staticmethod
    def backward(ctx, grad: Tensor):
        unit, x, slots = ctx.saved_tensors
        grad_x_world = unit.new_zeros((ctx.num_images, *unit.shape[1:])).index_add_(0, slots, unit).mul_(grad)
        grad_m = torch.bmm(unit, x.transpose(1, 2)).mul_(-grad)
        grad_t = unit.sum(-1).mul_(-grad)
        return grad_x_world, grad_m, grad_t, None, None, None


def learning_rate(step: int, niter: int, lr: float, schedule: str, lr_min: float = 1e-6) -> float:
    """Learning rate at `step` of `niter`: `cosine` or `linear` decay from `lr` to `lr_min`."""
    t = step / max(niter, 1)
    if schedule == "cosine":
        return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * t)) / 2
    if schedule == "linear":
        return lr + (lr_min - lr) * t
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}")


def run_optimization(
    model: SceneOptimizer,
    *,
    niter: int = 300,
    lr: float = 0.01,
    schedule: str = "cosine",
    lr_min: float = 1e-6,
    progress: bool = True,
    cancel: CancelCheck | None = None,
) -> list[float]:
    """Minimise `model()` with Adam (β = 0.9, 0.9) for `niter` steps; returns the loss per step.

    `cancel` (see `recon3r.utils.cancel`) is asked before each step; when it returns True,
    `recon3r.errors.Cancelled` is raised.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.9))
    losses = []
    for step in progress_bar(range(niter), desc="global alignment", total=niter, enabled=progress):
        raise_if_cancelled(cancel, f"alignment step {step + 1} of {niter}")
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, niter, lr, schedule, lr_min)
        optimizer.zero_grad(set_to_none=True)
        loss = model()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
