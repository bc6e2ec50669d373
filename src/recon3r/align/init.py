"""Initial cameras and points for the N-view optimiser, from a maximum-confidence spanning tree.

The pairs form a graph weighted by mean(conf_i)·mean(conf_j). Starting from its most confident
pair, the spanning tree is walked outwards: each new image's points come from a pair whose other
image is already placed, after a confidence-weighted similarity fit (Umeyama) of that pair's
shared point map onto the placed points. This reproduces the reference's
`minimum_spanning_tree` (scipy's Kruskal order included). Cameras then follow: a pose from a pair
that predicts the image in its own frame (or PnP when none does), a focal from its most
confident own-frame point map, and finally an alignment to any known poses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from recon3r.align.graph import PairGraph, UnionFind
from recon3r.align.known import KnownCameras
from recon3r.align.pnp import solve_pnp, solve_pnp_unknown_focal
from recon3r.geometry import apply_transform, invert_transform, make_transform, pixel_grid
from recon3r.geometry.cameras import image_center
from recon3r.geometry.focal import estimate_focal, focal_base
from recon3r.geometry.registration import align_poses, umeyama


@dataclass
class Initialization:
    """Initial state in one world frame: N cam-to-world poses (rigid), intrinsics and world points."""

    world_from_cam: Tensor  # (N, 4, 4)
    focals: Tensor  # (N, 2) (fx, fy) in pixels
    principal_points: Tensor  # (N, 2) (cx, cy) in pixels
    points: list[Tensor]  # (H_k, W_k, 3) per image, world frame
    tree: list[tuple[int, int]]  # spanning-tree edges in the order they were used


def spanning_tree(
    num_images: int, edges: Sequence[tuple[int, int]], scores: Sequence[float]
) -> list[tuple[float, int, int]]:
    """Maximum-score spanning forest of the undirected graph of `edges`, by Kruskal's algorithm.

    Equivalent to scipy's `minimum_spanning_tree` on the negated scores stored at (i, j):
    edges are tried from the best score, ties in (row, column) order, and of (i, j) and (j, i)
    the better-scored direction is kept. Returns (score, i, j) in (row, column) order.
    """
    row_major = sorted(range(len(edges)), key=lambda e: edges[e])
    by_score = sorted(row_major, key=lambda e: -scores[e])  # stable: ties keep row-major order
    sets = UnionFind(num_images)
    kept = [e for e in by_score if sets.union(*edges[e])]
    return [(scores[e], *edges[e]) for e in sorted(kept, key=lambda e: edges[e])]


def register(source: Tensor, target: Tensor, conf: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Confidence-weighted similarity (s, R, t) with target ≈ s·R·source + t, for (H, W, 3) maps."""
    return umeyama(source.reshape(-1, 3), target.reshape(-1, 3), conf.reshape(-1))


def focal_from_points(
    points: Tensor, conf: Tensor, principal_point: Tensor, min_conf: float = 3.0, min_pixels: int = 64
) -> Tensor:
    """Focal (pixels) of a camera-frame point map (H, W, 3), by the Weiszfeld fit on trusted pixels.

    Pixels with confidence below `min_conf` (unless fewer than `min_pixels` remain) and points at
    or behind the camera plane are left out: one point with z near 0 has an unbounded ray and
    would otherwise drag the fit. The result is clipped to [0.5, 3.5] × the 60° focal, as the
    reference does for PnP, and a degenerate map (no point in front of the camera) gets the 60°
    focal: a broken prediction must give a poor camera, not a singular K and NaN poses.
    """
    keep = points[..., 2] > 0
    if (keep & (conf >= min_conf)).sum() >= min_pixels:
        keep = keep & (conf >= min_conf)
    base = focal_base(*points.shape[-3:-1])
    if not bool(keep.any()):
        return torch.tensor(base, dtype=points.dtype, device=points.device)
    masked = torch.where(keep[..., None], points, torch.full_like(points, float("nan")))
    focal = estimate_focal(masked, principal_point, mode="weiszfeld", min_focal=0.5, max_focal=3.5)
    return torch.nan_to_num(focal, nan=base)


def spanning_tree_points(
    graph: PairGraph, scores: Sequence[float] | None = None
) -> tuple[list[Tensor], list[tuple[int, int]], dict[int, Tensor]]:
    """Place every image's points in one frame by walking the spanning tree (reference order).

    The world frame is camera i of the most confident pair (i, j).

    Returns:
        points: (H_k, W_k, 3) per image in the world frame;
        tree: the tree edges in the order they were used;
        poses: {image: (4, 4) rigid cam-to-world} for the images the walk itself locates
            (the first image, and the first element of each later edge).
    """
    scores = graph.edge_scores() if scores is None else scores
    index = graph.edge_index()
    todo = sorted(spanning_tree(graph.num_images, graph.edges, scores))
    eye = torch.eye(4, dtype=graph.dtype, device=graph.device)

    _, i, j = todo.pop()
    e = index[(i, j)]
    points: list[Tensor | None] = [None] * graph.num_images
    points[i], points[j] = graph.pts_i[e].clone(), graph.pts_j[e].clone()
    poses = {i: eye}
    done, tree = {i, j}, [(i, j)]
    while todo:
        score, i, j = todo.pop()
        e = index[(i, j)]
        if i in done:
            s, rotation, translation = register(graph.pts_i[e], points[i], graph.conf_i[e])
            points[j] = apply_transform(make_transform(rotation, translation, s), graph.pts_j[e])
            done.add(j)
        elif j in done:
            s, rotation, translation = register(graph.pts_j[e], points[j], graph.conf_j[e])
            points[i] = apply_transform(make_transform(rotation, translation, s), graph.pts_i[e])
            done.add(i)
        else:
            todo.insert(0, (score, i, j))
            continue
        tree.append((i, j))
        poses.setdefault(i, make_transform(rotation, translation))
    return points, tree, poses  # type: ignore[return-value]  # the tree spans a connected graph


def initialize(
    graph: PairGraph,
    known: KnownCameras,
    *,
    min_conf: float = 3.0,
    generator: torch.Generator | None = None,
) -> Initialization:
    """Initial poses, intrinsics and world points for every image (see the module docstring).

    Known focals and intrinsics are used as given; with two or more known poses the whole
    initial scene is moved by the similarity that best fits its cameras to them (`align_poses`),
    with one it is moved rigidly onto it; known poses are then set exactly.
    """
    device, dtype = graph.device, graph.dtype
    scores = graph.edge_scores()
    points, tree, poses = spanning_tree_points(graph, scores)
    best_first = sorted(range(graph.num_edges), key=lambda e: -scores[e])

    principal = torch.stack(
        [image_center(h, w, pixel_centers=True, dtype=dtype) for h, w in graph.shapes]
    ).to(device)
    principal = torch.where(
        known.intrinsics_mask[:, None].to(device), known.intrinsics[:, :2, 2].to(principal), principal
    )
    focals = known.focals.to(device=device, dtype=dtype).clone()
    for k in range(graph.num_images):
        own = [e for e in best_first if graph.edges[e][0] == k]  # pairs predicting image k in its own frame
        if not known.focal_mask[k] and own:
            focals[k] = focal_from_points(graph.pts_i[own[0]], graph.conf_i[own[0]], principal[k], min_conf)
        if k not in poses and own:
            _, rotation, translation = register(graph.pts_i[own[0]], points[k], graph.conf_i[own[0]])
            poses[k] = make_transform(rotation, translation)

    image_conf = graph.image_confidence()
    for k in range(graph.num_images):
        if k in poses:
            continue
        # Only ever predicted in another camera's frame (a one-way graph): locate it by PnP.
        height, width = graph.shapes[k]
        mask = image_conf[k] >= min_conf
        if mask.sum() < 64:
            mask = torch.ones_like(mask)
        pixels = pixel_grid(height, width, device=device, dtype=dtype)[mask]
        if known.focal_mask[k]:
            intrinsics = torch.eye(3, dtype=dtype, device=device)
            intrinsics[[0, 1], [0, 1]] = focals[k]
            intrinsics[:2, 2] = principal[k]
            result = solve_pnp(
                points[k][mask], pixels, intrinsics, weights=image_conf[k][mask], generator=generator
            )
        else:
            result = solve_pnp_unknown_focal(
                points[k][mask],
                pixels,
                principal[k],
                (height, width),
                weights=image_conf[k][mask],
                generator=generator,
            )
            focals[k] = result.focal
        poses[k] = invert_transform(result.cam_from_world)

    world_from_cam = torch.stack([poses[k] for k in range(graph.num_images)])
    world_from_cam, points = _align_to_known_poses(world_from_cam, points, known)
    return Initialization(world_from_cam, focals, principal, points, tree)


def _align_to_known_poses(
    world_from_cam: Tensor, points: list[Tensor], known: KnownCameras
) -> tuple[Tensor, list[Tensor]]:
    mask = known.pose_mask.to(world_from_cam.device)
    if known.num_poses == 0:
        return world_from_cam, points
    target = known.poses.to(world_from_cam)
    if known.num_poses == 1:
        transform = target[mask][0] @ invert_transform(world_from_cam[mask][0])
        scale = torch.ones((), dtype=world_from_cam.dtype, device=world_from_cam.device)
    else:
        scale, rotation, translation = align_poses(world_from_cam[mask], target[mask])
        transform = make_transform(rotation, translation, scale)
    world_from_cam = transform @ world_from_cam
    world_from_cam[:, :3, :3] /= scale  # keep the camera rotations rigid
    world_from_cam = torch.where(mask[:, None, None], target, world_from_cam)
    return world_from_cam, [apply_transform(transform, p) for p in points]
