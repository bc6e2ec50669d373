"""Two-view alignment without optimisation, by PnP (the reference's `PairViewer`).

For an ordered pair (i, j) both point maps are in camera i's frame, so camera i is the world:
image i's depth is the z of its own point map, and camera j is the camera that sees image j's
points (also in camera i's frame) at its pixel grid, found by PnP. Each available ordering is
solved and the one the network trusts more, by mean(conf_i)·mean(conf_j), is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recon3r.align.graph import PairGraph
from recon3r.align.init import focal_from_points
from recon3r.align.known import KnownCameras
from recon3r.align.pnp import solve_pnp, solve_pnp_unknown_focal
from recon3r.geometry import apply_transform, invert_transform, pixel_grid
from recon3r.geometry.cameras import image_center


@dataclass
class PairView:
    """A two-view result: poses (2, 4, 4) cam-to-world, K (2, 3, 3), depths (H_k, W_k)."""

    world_from_cam: Tensor
    intrinsics: Tensor
    depths: list[Tensor]
    edge: tuple[int, int]  # the ordering kept; its camera i is the world frame
    scores: dict[tuple[int, int], float]  # mean(conf_i)·mean(conf_j) per ordering
    inliers: float  # share of PnP inliers among the points used


def pair_view(
    graph: PairGraph, known: KnownCameras, *, min_conf: float = 3.0, generator: torch.Generator | None = None
) -> PairView:
    """Align two images from their one or two pair predictions (see the module docstring).

    Focals come from `known` or are estimated from each image's own-frame point map (the
    Weiszfeld fit); an image that no pair predicts in its own frame gets its focal from PnP.
    """
    if graph.num_images != 2:
        raise ValueError(f"two-view alignment takes exactly 2 images, got {graph.num_images}")
    device, dtype = graph.device, graph.dtype
    index = graph.edge_index()
    scores = dict(zip(graph.edges, graph.edge_scores()))

    intrinsics = known.intrinsics.to(device=device, dtype=dtype).clone()
    has_focal = known.focal_mask.clone()
    for k in range(2):
        if not known.intrinsics_mask[k]:
            intrinsics[k, :2, 2] = image_center(*graph.shapes[k], pixel_centers=True, dtype=dtype)
        intrinsics[k, [0, 1], [0, 1]] = known.focals[k].to(intrinsics)
        if not has_focal[k] and (k, 1 - k) in index:
            e = index[(k, 1 - k)]
            intrinsics[k, [0, 1], [0, 1]] = focal_from_points(
                graph.pts_i[e], graph.conf_i[e], intrinsics[k, :2, 2], min_conf
            )
            has_focal[k] = True

    best: PairView | None = None
    for (i, j), e in index.items():
        height, width = graph.shapes[j]
        conf = graph.conf_j[e]
        mask = conf >= min_conf
        if mask.sum() < 64:
            mask = torch.ones_like(mask)
        points, pixels = graph.pts_j[e][mask], pixel_grid(height, width, device=device, dtype=dtype)[mask]
        k_pair = intrinsics.clone()
        if has_focal[j]:
            result = solve_pnp(points, pixels, k_pair[j], weights=conf[mask], generator=generator)
        else:
            result = solve_pnp_unknown_focal(
                points, pixels, k_pair[j, :2, 2], (height, width), weights=conf[mask], generator=generator
            )
            k_pair[j, 0, 0] = k_pair[j, 1, 1] = result.focal
        poses = torch.eye(4, dtype=dtype, device=device).repeat(2, 1, 1)
        poses[j] = invert_transform(result.cam_from_world)
        depths = [torch.empty(0)] * 2
        depths[i] = graph.pts_i[e][..., 2].clone()
        depths[j] = apply_transform(result.cam_from_world, graph.pts_j[e])[..., 2]
        candidate = PairView(poses, k_pair, depths, (i, j), scores, result.num_inliers / max(len(points), 1))
        if best is None or scores[(i, j)] > scores[best.edge]:
            best = candidate
    assert best is not None  # a valid two-image graph has at least one pair
    return best
