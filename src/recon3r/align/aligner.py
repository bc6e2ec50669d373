"""`global_align`: pair predictions in, one `Scene` out (poses, intrinsics, depths, points)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from recon3r.align.confidence import parse_min_conf, resolve_min_conf
from recon3r.align.graph import CONF_TRANSFORMS, build_pair_graph
from recon3r.align.init import Initialization, initialize
from recon3r.align.known import KnownCameras, parse_known_cameras
from recon3r.align.optimizer import SCHEDULES, SceneOptimizer, run_optimization
from recon3r.align.pair_viewer import pair_view
from recon3r.align.sparse import DEFAULT_SUBSAMPLE, fuse_depths, sparse_align
from recon3r.errors import Recon3rError
from recon3r.geometry import depth_to_world_points
from recon3r.inference import PairPrediction
from recon3r.scene import ImageTransform, Scene
from recon3r.utils.cancel import CancelCheck, raise_if_cancelled

MODES = ("auto", "pair", "optimize", "fast")
#: `auto` picks the fast mode on the CPU from this many images on (see `choose_mode`).
FAST_MIN_IMAGES = 12


def choose_mode(num_images: int, num_known_poses: int, device: torch.device, *, optimize_pp: bool = False) -> str:
    """The mode `auto` runs: `pair` for two images without known poses; on the CPU, `fast` from
    `FAST_MIN_IMAGES` images on (the dense mode's steps cost minutes there: pairs × pixels each);
    `optimize` (dense) otherwise, and whenever principal points are optimised (only it can)."""
    if num_images == 2 and num_known_poses == 0:
        return "pair"
    if device.type == "cpu" and num_images >= FAST_MIN_IMAGES and not optimize_pp:
        return "fast"
    return "optimize"


def global_align(
    predictions: Sequence[PairPrediction],
    images: Sequence[Any],
    names: Sequence[str] | None = None,
    *,
    mode: str = "auto",
    niter: int = 300,
    lr: float = 0.01,
    schedule: str = "cosine",
    min_conf: float | str = 3.0,
    conf_mode: str = "log",
    optimize_pp: bool = False,
    known_intrinsics: Any = None,
    known_focals: Any = None,
    known_poses: Any = None,
    transforms: Sequence[ImageTransform] | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
    cancel: CancelCheck | None = None,
    subsample: int = DEFAULT_SUBSAMPLE,
) -> Scene:
    """Put every image of a pair graph into one scene.

    Args:
        predictions: ordered pairs (i, j) with `pts_i`, `pts_j` in camera i's frame and their
            confidences, at each image's network resolution.
        images: N images at network resolution: (H, W, 3) arrays or tensors (float in [0, 1]
            or uint8), or loaded views with an `image` attribute (and optionally `name` and
            `transform`).
        names: N image names; defaults to the views' names or `image_000`, ...
        mode: `pair` (two images, PnP, no optimisation), `optimize` (the dense mode:
            spanning-tree initialisation then gradient descent on every pixel's depth), `fast`
            (spanning-tree initialisation then a second-order solve of every camera's pose and
            depth scale on a confident-pixel subsample, `recon3r.align.sparse`), or `auto`:
            `pair` for two images without known poses, `fast` on the CPU from 12 images on,
            `optimize` otherwise (`choose_mode`).
        niter, lr, schedule: dense optimiser steps, initial learning rate, `cosine` or `linear` decay.
        min_conf: images' masks keep pixels whose confidence is ≥ this (also the PnP mask);
            "auto" adapts it to the scene (`recon3r.align.confidence.resolve_min_conf` on the
            per-image confidences). The value used is `metadata["alignment"]["min_conf"]`.
        conf_mode: confidence → loss weight transform: `log`, `sqrt`, `m1` or `id`.
        optimize_pp: also optimise principal points (default: fixed at the image centre).
        known_intrinsics: (3, 3) K at network resolution per image, as a dict {index: K} or
            one per image; held fixed.
        known_focals: focal f or (fx, fy) in pixels at network resolution; held fixed.
        known_poses: (4, 4) cam-to-world (OpenCV) per image; held fixed, and the scene is
            expressed in their frame and unit (two or more) or frame (one).
        transforms: per-image `ImageTransform` stored in `scene.transforms` (so intrinsics can
            be mapped to the original resolution); defaults to the views' `transform`.
        device: where to compute; defaults to the predictions' device.
        seed: seed of the PnP sampling.
        progress: show a progress bar while optimising.
        cancel: asked before each optimisation step (see `recon3r.utils.cancel`); raises
            `recon3r.errors.Cancelled` when it returns True.
        subsample: fast mode: pixels per image the solver uses (at most).

    Returns:
        A `Scene`: cam-to-world poses (N, 4, 4), intrinsics (N, 3, 3), depth maps, world points,
        per-image confidence (the maximum over the pairs that predict it), masks
        (confidence ≥ `min_conf`), and `metadata["alignment"]` with the mode, losses,
        iterations and timings.
    """
    start = time.perf_counter()
    if mode not in MODES:
        raise Recon3rError(f"unknown alignment mode {mode!r}; expected one of {MODES}")
    if schedule not in SCHEDULES:
        raise Recon3rError(f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}")
    if conf_mode not in CONF_TRANSFORMS:
        raise Recon3rError(
            f"unknown confidence transform {conf_mode!r}; expected one of {sorted(CONF_TRANSFORMS)}"
        )
    if int(subsample) != subsample or subsample < 1:
        raise Recon3rError(f"subsample must be a positive number of pixels, got {subsample!r}")
    if int(niter) != niter or niter < 0:
        raise Recon3rError(f"niter must be a non-negative integer, got {niter!r}")
    if not lr > 0:
        raise Recon3rError(f"lr must be positive, got {lr!r}")
    parse_min_conf(min_conf)

    arrays = [_image_array(view, k) for k, view in enumerate(images)]
    names = _names(images, names)
    transforms = _transforms(images, transforms)
    if device is not None and not isinstance(device, torch.device):
        from recon3r.utils.device import resolve_device

        device = resolve_device(device)
    graph = build_pair_graph(predictions, [a.shape[:2] for a in arrays], device=device)
    known = parse_known_cameras(graph.num_images, known_intrinsics, known_focals, known_poses)
    requested = mode
    if mode == "auto":
        mode = choose_mode(graph.num_images, known.num_poses, graph.device, optimize_pp=optimize_pp)
    if mode == "fast" and optimize_pp:
        raise Recon3rError("mode 'fast' keeps principal points fixed; use mode='optimize' with optimize_pp")
    if mode == "pair" and graph.num_images != 2:
        raise Recon3rError(
            f"mode 'pair' aligns exactly two images, got {graph.num_images}; use mode='optimize'"
        )
    if mode == "pair" and known.num_poses:
        raise Recon3rError("mode 'pair' cannot hold known poses fixed; use mode='optimize'")

    rule = min_conf
    min_conf = resolve_min_conf(min_conf, torch.cat([c.reshape(-1) for c in graph.image_confidence()]).cpu().numpy())
    generator = torch.Generator().manual_seed(seed)
    info: dict[str, Any] = {"mode": mode, "requested_mode": requested, "num_pairs": graph.num_edges,
                            "min_conf": min_conf, "min_conf_rule": str(rule)}
    if mode == "pair":
        view = pair_view(graph, known, min_conf=min_conf, generator=generator)
        world_from_cam, intrinsics, depths = view.world_from_cam, view.intrinsics, view.depths
        info.update(reference_pair=list(view.edge), pnp_inlier_ratio=view.inliers, iterations=0)
    elif mode == "fast":
        raise_if_cancelled(cancel, "fast alignment")
        init = initialize(graph, known, min_conf=min_conf, generator=generator)
        intrinsics = initial_intrinsics(init, known).to(device=graph.device, dtype=torch.float64)
        info["time_init_s"] = time.perf_counter() - start
        optimize_start = time.perf_counter()
        fit = sparse_align(graph, init, known, intrinsics, min_conf=min_conf, conf_mode=conf_mode,
                           subsample=int(subsample))
        world_from_cam, depths = fit.world_from_cam.to(graph.dtype), fuse_depths(graph, fit)
        intrinsics = intrinsics.to(graph.dtype)
        pixel_sides = 2 * graph.num_edges * fit.subsample
        info.update(
            iterations=fit.iterations, subsample=fit.subsample, conf_mode=conf_mode,
            initial_loss=fit.costs[0][0] / pixel_sides, final_loss=fit.costs[-1][-1] / pixel_sides,
            losses=[c / pixel_sides for costs in fit.costs for c in costs[1:]],
            spanning_tree=[list(e) for e in init.tree], time_optimize_s=time.perf_counter() - optimize_start,
        )  # fmt: skip
    else:
        init = initialize(graph, known, min_conf=min_conf, generator=generator)
        model = SceneOptimizer(graph, known, conf_mode=conf_mode, optimize_pp=optimize_pp)
        model.initialize(init)
        with torch.no_grad():
            initial_loss = float(model())
        info["time_init_s"] = time.perf_counter() - start
        optimize_start = time.perf_counter()
        losses = run_optimization(model, niter=int(niter), lr=lr, schedule=schedule, progress=progress,
                                  cancel=cancel)
        with torch.no_grad():
            final_loss = float(model())
            world_from_cam, intrinsics, depths = (
                model.world_from_cam(),
                model.intrinsics(),
                model.depth_maps(),
            )
        info.update(
            iterations=int(niter), lr=lr, schedule=schedule, conf_mode=conf_mode, initial_loss=initial_loss,
            final_loss=final_loss, losses=losses, spanning_tree=[list(e) for e in init.tree],
            time_optimize_s=time.perf_counter() - optimize_start,
        )  # fmt: skip

    if not (bool(torch.isfinite(world_from_cam).all()) and bool(torch.isfinite(intrinsics).all())):
        raise Recon3rError(
            f"global alignment ({mode}) produced non-finite cameras; the pair predictions are likely "
            "degenerate (check the weights), or lower lr / raise min_conf"
        )
    points = [
        depth_to_world_points(d[None], k[None], p[None])[0]
        for d, k, p in zip(depths, intrinsics, world_from_cam)
    ]
    _check_points(points, mode)
    confidences = graph.image_confidence()
    world_from_cam = world_from_cam.detach().cpu().double().numpy()
    intrinsics = intrinsics.detach().cpu().double().numpy()
    # Fixed values are returned exactly as given (the optimiser ran on a float32 copy).
    world_from_cam[known.pose_mask.numpy()] = known.poses[known.pose_mask].numpy()
    intrinsics[known.intrinsics_mask.numpy()] = known.intrinsics[known.intrinsics_mask].numpy()
    focal_only = (known.focal_mask & ~known.intrinsics_mask).numpy()
    intrinsics[focal_only, 0, 0] = known.focals[focal_only, 0].numpy()
    intrinsics[focal_only, 1, 1] = known.focals[focal_only, 1].numpy()
    info["time_total_s"] = time.perf_counter() - start
    info["device"] = str(graph.device)
    return Scene(
        names=list(names),
        images=arrays,
        world_from_cam=world_from_cam,
        intrinsics=intrinsics,
        depths=[d.detach().cpu().float().numpy() for d in depths],
        points=[p.detach().cpu().float().numpy() for p in points],
        confidences=[c.detach().cpu().float().numpy() for c in confidences],
        masks=[(c >= min_conf).cpu().numpy() for c in confidences],
        transforms=None if transforms is None else list(transforms),
        metadata={"alignment": info},
    )


def initial_intrinsics(init: Initialization, known: KnownCameras) -> torch.Tensor:
    """(N, 3, 3) K of the initialisation (focals, principal points), known intrinsics and focals as given."""
    focals, principal = init.focals.detach().cpu().double(), init.principal_points.detach().cpu().double()
    k = torch.zeros(len(focals), 3, 3, dtype=torch.float64)
    k[:, 0, 0], k[:, 1, 1], k[:, :2, 2], k[:, 2, 2] = focals[:, 0], focals[:, 1], principal, 1
    k[known.focal_mask, 0, 0] = known.focals[known.focal_mask, 0].double()
    k[known.focal_mask, 1, 1] = known.focals[known.focal_mask, 1].double()
    return torch.where(known.intrinsics_mask[:, None, None], known.intrinsics.double(), k)


def _check_points(points: Sequence[torch.Tensor], mode: str) -> None:
    """One clear error when alignment leaves non-finite points, or every point in one place."""
    flat = torch.cat([p.detach().reshape(-1, 3) for p in points]).double()
    if not bool(torch.isfinite(flat).all()):
        raise Recon3rError(f"global alignment ({mode}) produced non-finite points; the pair predictions are likely "
                           "degenerate (check the weights)")
    spread = float((flat - flat.mean(0)).norm(dim=-1).max())
    largest = float(flat.abs().max())
    if not spread > 1e-6 * max(largest, 1e-2):
        raise Recon3rError(f"global alignment ({mode}) put every point in one place (spread {spread:.3g}, coordinates "
                           f"up to {largest:.3g}); the pair predictions are degenerate (check the weights), or known "
                           "poses lie too far from the origin for float32")


def _image_array(view: Any, k: int) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] from an array, a tensor or a view with `.image`."""
    image = getattr(view, "image", view)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise Recon3rError(f"image {k}: expected an (H, W, 3) RGB array, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return image.astype(np.float32, copy=False)


def _names(images: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [str(getattr(view, "name", f"image_{k:03d}")) for k, view in enumerate(images)]
    if len(names) != len(images):
        raise Recon3rError(f"got {len(names)} names for {len(images)} images")
    return [str(n) for n in names]


def _transforms(
    images: Sequence[Any], transforms: Sequence[ImageTransform] | None
) -> list[ImageTransform] | None:
    if transforms is not None:
        if len(transforms) != len(images):
            raise Recon3rError(f"got {len(transforms)} transforms for {len(images)} images")
        return list(transforms)
    found = [getattr(view, "transform", None) for view in images]
    return found if found and all(isinstance(t, ImageTransform) for t in found) else None
