"""Ground-truth scenes and oracle pair predictions, for testing and benchmarking alignment.

The scene is analytic and ray-cast exactly: a ball on a ground plane inside a large dome, seen
by cameras on a ring that look at the ball. Oracle predictions are the true point maps expressed
in camera i's frame, each pair with its own random scale, optional depth-relative noise and a
share of outlier pixels with low confidence, which is what a good pair model returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from recon3r.geometry import apply_transform, depth_to_points, invert_transform, pixel_grid
from recon3r.inference import PairPrediction

_BALLS = ((0.0, 0.0, 0.0, 0.8), (1.1, 0.6, -0.6, 0.4), (-0.9, -0.8, -0.7, 0.3))  # (x, y, z, radius)
_GROUND_Z = -1.0
_DOME_RADIUS = 9.0


@dataclass
class SyntheticScene:
    """N views of the analytic scene: cam-to-world poses, intrinsics, depths, colours."""

    world_from_cam: Tensor  # (N, 4, 4) float64
    intrinsics: Tensor  # (N, 3, 3) float64
    depths: list[Tensor]  # (H, W) float64
    images: list[np.ndarray]  # (H, W, 3) float32 in [0, 1]

    @property
    def num_images(self) -> int:
        return len(self.depths)

    def world_points(self, k: int) -> Tensor:
        """(H, W, 3) world points of image k."""
        cam = depth_to_points(self.depths[k][None], self.intrinsics[k][None])[0]
        return apply_transform(self.world_from_cam[k], cam)


def make_scene(
    num_images: int,
    height: int = 32,
    width: int = 48,
    *,
    radius: float = 3.0,
    arc_degrees: float = 360.0,
    focal_range: tuple[float, float] = (0.9, 1.2),
    principal_jitter: float = 0.0,
    shapes: Sequence[tuple[int, int]] | None = None,
    seed: int = 0,
) -> SyntheticScene:
    """Cameras spread over an `arc_degrees` arc of a ring of `radius`, looking at the central ball.

    Each camera gets a random height, look-at jitter and roll, and a focal of
    U(focal_range)·max(H, W) pixels; the principal point is the image centre ((W−1)/2, (H−1)/2)
    plus U(±principal_jitter) pixels. `shapes` gives each image its own (H, W) instead of
    (`height`, `width`).
    """
    shapes = [(height, width)] * num_images if shapes is None else [tuple(s) for s in shapes]
    if len(shapes) != num_images:
        raise ValueError(f"got {len(shapes)} shapes for {num_images} images")
    gen = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=gen, dtype=torch.float64)

    full_circle = arc_degrees >= 360.0
    angles = torch.linspace(
        0, math.radians(arc_degrees), num_images + (1 if full_circle else 0), dtype=torch.float64
    )
    angles = angles[:num_images] + uniform(-0.1, 0.1, num_images)
    poses, intrinsics, depths, images = [], [], [], []
    for k, (height, width) in enumerate(shapes):
        centre = torch.stack(
            [radius * torch.cos(angles[k]), radius * torch.sin(angles[k]), uniform(0.2, 1.2, 1)[0]]
        )
        target = uniform(-0.2, 0.2, 3)
        forward = torch.nn.functional.normalize(target - centre, dim=0)
        right = torch.nn.functional.normalize(
            torch.linalg.cross(forward, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)), dim=0
        )
        down = torch.linalg.cross(forward, right)
        roll = uniform(-0.15, 0.15, 1)[0]
        right, down = (
            right * torch.cos(roll) + down * torch.sin(roll),
            down * torch.cos(roll) - right * torch.sin(roll),
        )
        pose = torch.eye(4, dtype=torch.float64)
        pose[:3, :3] = torch.stack([right, down, forward], dim=1)
        pose[:3, 3] = centre
        focal = float(uniform(*focal_range, 1)[0]) * max(height, width)
        k_mat = torch.tensor(
            [[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]],
            dtype=torch.float64,
        )
        k_mat[:2, 2] += uniform(-principal_jitter, principal_jitter, 2)
        depth, colour = _render(pose, k_mat, height, width)
        poses.append(pose)
        intrinsics.append(k_mat)
        depths.append(depth)
        images.append(colour)
    return SyntheticScene(torch.stack(poses), torch.stack(intrinsics), depths, images)


def _render(pose: Tensor, intrinsics: Tensor, height: int, width: int) -> tuple[Tensor, np.ndarray]:
    """Ray-cast z-depth and a procedural colour for one camera."""
    grid = pixel_grid(height, width, dtype=torch.float64)
    rays_cam = torch.stack(
        [
            (grid[..., 0] - intrinsics[0, 2]) / intrinsics[0, 0],
            (grid[..., 1] - intrinsics[1, 2]) / intrinsics[1, 1],
            torch.ones(height, width, dtype=torch.float64),
        ],
        dim=-1,
    )  # z = 1, so the ray parameter is the z-depth
    rays = rays_cam @ pose[:3, :3].T
    origin = pose[:3, 3]
    hits = []
    # ground plane
    t_plane = (_GROUND_Z - origin[2]) / rays[..., 2]
    hits.append(torch.where(t_plane > 1e-6, t_plane, torch.inf))
    for cx, cy, cz, r in _BALLS:
        hits.append(
            _sphere_hit(origin - torch.tensor([cx, cy, cz], dtype=torch.float64), rays, r, inside=False)
        )
    hits.append(_sphere_hit(origin, rays, _DOME_RADIUS, inside=True))
    depth, which = torch.stack(hits).min(dim=0)
    points = origin + depth[..., None] * rays
    checker = ((torch.floor(points * 2.0).sum(-1) % 2) * 0.5 + 0.25).numpy()
    base = np.array([[0.8, 0.5, 0.3], [0.3, 0.6, 0.9], [0.9, 0.9, 0.3], [0.4, 0.9, 0.5], [0.6, 0.6, 0.7]])
    colour = base[which.numpy()] * checker[..., None]
    return depth, colour.astype(np.float32)


def _sphere_hit(origin: Tensor, rays: Tensor, radius: float, *, inside: bool) -> Tensor:
    a = rays.square().sum(-1)
    b = 2 * (rays * origin).sum(-1)
    c = origin.square().sum() - radius**2
    disc = b**2 - 4 * a * c
    root = disc.clamp_min(0).sqrt()
    t = (-b + root) / (2 * a) if inside else (-b - root) / (2 * a)
    return torch.where((disc >= 0) & (t > 1e-6), t, torch.inf)


def oracle_predictions(
    scene: SyntheticScene,
    pairs: Sequence[tuple[int, int]],
    *,
    noise: float = 0.0,
    outliers: float = 0.0,
    scale_range: tuple[float, float] = (0.5, 2.0),
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> list[PairPrediction]:
    """A `PairPrediction` per ordered pair, made from the ground truth.

    Both point maps are the true points in camera i's frame times a per-pair scale drawn
    log-uniformly from `scale_range`. Each point then moves along a random direction by
    N(0, noise·depth); a fraction `outliers` of pixels is displaced by 30 % of its depth or more
    and given confidence in [1, 1.5]. Other pixels get confidence in [2, 6].
    """
    gen = torch.Generator().manual_seed(seed)
    world = [scene.world_points(k) for k in range(scene.num_images)]
    cam_from_world = invert_transform(scene.world_from_cam)
    out = []
    for i, j in pairs:
        log_low, log_high = math.log(scale_range[0]), math.log(scale_range[1])
        scale = math.exp(log_low + (log_high - log_low) * float(torch.rand((), generator=gen)))
        maps, confs = [], []
        for k in (i, j):
            points = apply_transform(cam_from_world[i], world[k]) * scale
            depth = points.norm(dim=-1, keepdim=True)
            points = points + noise * depth * torch.randn(points.shape, generator=gen, dtype=torch.float64)
            conf = 2 + 4 * torch.rand(points.shape[:-1], generator=gen, dtype=torch.float64)
            bad = torch.rand(points.shape[:-1], generator=gen) < outliers
            direction = torch.nn.functional.normalize(
                torch.randn(points.shape, generator=gen, dtype=torch.float64), dim=-1
            )
            magnitude = 0.3 + torch.rand(points.shape[:-1] + (1,), generator=gen, dtype=torch.float64)
            points = torch.where(bad[..., None], points + direction * magnitude * depth, points)
            conf = torch.where(
                bad, 1 + 0.5 * torch.rand(conf.shape, generator=gen, dtype=torch.float64), conf
            )
            maps.append(points.to(dtype))
            confs.append(conf.to(dtype))
        out.append(PairPrediction(i=i, j=j, pts_i=maps[0], conf_i=confs[0], pts_j=maps[1], conf_j=confs[1]))
    return out
