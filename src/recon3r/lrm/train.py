"""A small trainer for the LRM-style model on procedural object orbits (CPU-friendly).

Each step takes a batch of scenes, encodes their source view (view 0) into triplanes and renders
random rays of the *other* views (`rays` per scene, `samples` stratified samples per ray, jittered).
Loss: MSE on RGB (composited over the white background) + `mask_weight` · MSE between rendered
opacity and the object mask. Data and normalisation: `recon3r.lrm.data`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from recon3r.lrm.data import BACKGROUND, Views, load_orbits
from recon3r.lrm.render import camera_rays, pixel_grid

TEST_SCENE_OFFSET = 100_000  # held-out scenes use indices from here (disjoint from training)


@dataclass
class LRMTrainConfig:
    """What `train_lrm` runs; `model` overrides `LRMConfig` fields (the "tiny" variant by default)."""

    model: dict[str, Any] = field(default_factory=dict)
    steps: int = 800
    train_scenes: int = 64
    test_scenes: int = 8
    views: int = 6  # rendered per orbit: view 0 is the source, the others supervise
    batch_scenes: int = 4
    rays: int = 256  # per scene and step
    samples: int = 24  # per ray
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 30
    mask_weight: float = 0.5
    clip_grad: float = 1.0
    seed: int = 0
    scene_seed: int = 0
    threads: int | None = 1  # torch.set_num_threads; None leaves it
    out_dir: str | None = None  # save_model here at the end when given


@dataclass
class LRMTrainResult:
    model: torch.nn.Module
    losses: list[float]
    test_initial: dict[str, float]  # novel-view metrics of the untrained model
    test_final: dict[str, float]
    test_mean_color: dict[str, float]  # the mean-colour-of-the-source baseline
    seconds: float


def source_inputs(data: Views, img_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs of every scene: source images (B, 3, S, S) in [-1, 1] and camera codes (B, 4)."""
    from recon3r.models.lrm import normalized_intrinsics

    images = data["images"][:, 0]
    if images.shape[-1] != img_size:
        raise ValueError(f"data is {images.shape[-1]} px but the model takes {img_size} px")
    return images * 2 - 1, normalized_intrinsics(data["intrinsics"][:, 0], img_size, img_size)


def all_rays(data: Views) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays of every pixel of every view: origins, directions (B, V, S·S, 3)."""
    B, V, _, H, W = data["images"].shape
    o, d = camera_rays(data["intrinsics"].reshape(B * V, 3, 3), data["world_from_cam"].reshape(B * V, 4, 4),
                       pixel_grid(H, W))
    return o.reshape(B, V, H * W, 3), d.reshape(B, V, H * W, 3)


@torch.no_grad()
def novel_view_metrics(model: torch.nn.Module, data: Views, samples: int = 32) -> dict[str, float]:
    """Held-out novel views (every view but the source): mean MSE, PSNR (dB, from the mean MSE per
    scene) and mask IoU (rendered opacity > 0.5 vs the object mask), averaged over scenes."""
    model.eval()
    B, V, _, H, W = data["images"].shape
    images, cams = source_inputs(data, H)
    origins, dirs = all_rays(data)
    mses, ious = [], []
    for b in range(B):
        planes = model(images[b:b + 1], cams[b:b + 1])
        out = model.render(planes, origins[b, 1:].reshape(1, -1, 3), dirs[b, 1:].reshape(1, -1, 3), samples,
                           background=BACKGROUND)
        target = data["images"][b, 1:].permute(0, 2, 3, 1).reshape(1, -1, 3)
        mses.append(float(((out.rgb - target) ** 2).mean()))
        pred, mask = out.opacity > 0.5, data["masks"][b, 1:].reshape(1, -1) > 0.5
        ious.append(float((pred & mask).sum() / (pred | mask).sum().clamp_min(1)))
    return _summary(mses, ious)


def mean_color_metrics(data: Views) -> dict[str, float]:
    """Trivial baseline: every novel-view pixel gets the mean colour of the source image (IoU: no object)."""
    mses = []
    for b in range(data["images"].shape[0]):
        mean = data["images"][b, 0].mean(dim=(1, 2))
        mses.append(float(((data["images"][b, 1:] - mean[:, None, None]) ** 2).mean()))
    return _summary(mses, [0.0] * len(mses))


def _summary(mses: list[float], ious: list[float]) -> dict[str, float]:
    psnr = [10 * math.log10(1 / max(m, 1e-12)) for m in mses]
    return {"mse": sum(mses) / len(mses), "psnr": sum(psnr) / len(psnr), "mask_iou": sum(ious) / len(ious)}


def train_lrm(config: LRMTrainConfig | None = None) -> LRMTrainResult:
    """Train an `LRM` on procedural orbits; returns the model and held-out metrics before/after."""
    from recon3r.models.checkpoint import save_model
    from recon3r.models.lrm import build_lrm

    cfg = config or LRMTrainConfig()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = build_lrm("tiny", **cfg.model)
    size = model.cfg.img_size
    start = time.perf_counter()
    train = load_orbits(cfg.train_scenes, cfg.views, size, cfg.scene_seed)
    test = load_orbits(cfg.test_scenes, cfg.views, size, cfg.scene_seed, first=TEST_SCENE_OFFSET)
    test_initial = novel_view_metrics(model, test)
    images, cams = source_inputs(train, size)
    origins, dirs = all_rays(train)
    colors = train["images"].permute(0, 1, 3, 4, 2).reshape(*origins.shape[:2], -1, 3)
    masks = train["masks"].reshape(*origins.shape[:3])
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    losses = []
    n_pixels = origins.shape[2]
    for step in range(cfg.steps):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * _schedule(step, cfg.steps, cfg.warmup)
        model.train()
        scenes = torch.randint(len(images), (cfg.batch_scenes,), generator=generator)
        views = torch.randint(1, cfg.views, (cfg.batch_scenes, cfg.rays), generator=generator)
        pixels = torch.randint(n_pixels, (cfg.batch_scenes, cfg.rays), generator=generator)
        rows = scenes[:, None].expand(-1, cfg.rays)
        planes = model(images[scenes], cams[scenes])
        out = model.render(planes, origins[rows, views, pixels], dirs[rows, views, pixels], cfg.samples,
                           perturb=True, background=BACKGROUND)
        loss = ((out.rgb - colors[rows, views, pixels]) ** 2).mean()
        loss = loss + cfg.mask_weight * ((out.opacity - masks[rows, views, pixels]) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        optimizer.step()
        losses.append(float(loss.detach()))
    test_final = novel_view_metrics(model, test)
    if cfg.out_dir is not None:
        save_model(model, cfg.out_dir)
    return LRMTrainResult(model.eval(), losses, test_initial, test_final, mean_color_metrics(test),
                          time.perf_counter() - start)


def _schedule(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(steps - warmup, 1)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))
