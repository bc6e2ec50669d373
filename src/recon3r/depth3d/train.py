"""Train the shift and focal networks on procedural depth maps, and evaluate recoveries.

`train_depth3d(config)` renders `train_views` procedural views once (exact depth and intrinsics),
then draws fresh random distortions and point samples for every batch (`recon3r.depth3d.samples`).
Both networks are trained together with AdamW on a smooth-L1 loss over their targets (relative
shift, log focal scale). A tiny configuration runs on one CPU core in well under a minute.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from recon3r.depth3d.model import Depth3DConfig, Depth3DModel
from recon3r.depth3d.samples import DepthView, DistortionRange, distort_view, make_batch, render_views


@dataclass
class TrainDepth3DConfig:
    """Everything a training run depends on; the run is deterministic given these values."""

    model: Depth3DConfig = field(default_factory=Depth3DConfig)
    ranges: DistortionRange = field(default_factory=DistortionRange)
    train_views: int = 1000  # procedural views rendered once ('train' split)
    image_size: int = 64  # procedural image size (short side ≈ 0.75 · size)
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    seed: int = 0
    log_every: int = 50
    out_dir: str | None = None  # save model.safetensors + config.json here when set


@dataclass
class TrainResult:
    model: Depth3DModel
    losses: list[float]  # per step: shift loss + focal loss
    shift_losses: list[float]
    focal_losses: list[float]
    seconds: float


def _lr_at(step: int, config: TrainDepth3DConfig) -> float:
    """Linear warm-up, then cosine decay to 1% of `lr`."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_depth3d(config: TrainDepth3DConfig, views: list[DepthView] | None = None,
                  log: Callable[[str], None] | None = print) -> TrainResult:
    """Train a `Depth3DModel`; `views` overrides the rendered training views (tests pass a few)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    start = time.perf_counter()
    if views is None:
        views = render_views("train", config.train_views, config.image_size, seed=config.seed)
        if log:
            log(f"rendered {len(views)} training views in {time.perf_counter() - start:.1f} s")
    model = Depth3DModel.from_config(config.model).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.SmoothL1Loss(beta=0.05)
    losses, shift_losses, focal_losses = [], [], []
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, config)
        batch = make_batch(views, rng, config.batch_size, config.model.num_points, config.ranges)
        shift_loss = loss_fn(model.predict_shift(batch["shift_points"]), batch["shift"])
        focal_loss = loss_fn(model.predict_log_focal_scale(batch["focal_points"]), batch["log_focal_scale"])
        loss = shift_loss + focal_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        shift_losses.append(shift_loss.item())
        focal_losses.append(focal_loss.item())
        losses.append(shift_losses[-1] + focal_losses[-1])
        if log and (step + 1) % config.log_every == 0:
            window = slice(-config.log_every, None)
            log(f"step {step + 1}/{config.steps}  loss {np.mean(losses[window]):.4f}  "
                f"shift {np.mean(shift_losses[window]):.4f}  focal {np.mean(focal_losses[window]):.4f}  "
                f"{time.perf_counter() - start:.0f} s")
    model.eval()
    if config.out_dir is not None:
        from recon3r.models.checkpoint import save_model

        save_model(model, Path(config.out_dir))
    return TrainResult(model, losses, shift_losses, focal_losses, time.perf_counter() - start)


@dataclass
class Evaluation:
    """Per-view errors of a recovery method on distorted held-out views (arrays of shape (V,))."""

    shift_error: np.ndarray  # |predicted - true| relative shift (units of the observed median depth)
    focal_error: np.ndarray  # |predicted focal / true focal - 1|
    point_error: np.ndarray  # scale-aligned point error, relative to the mean true point distance

    def summary(self) -> dict[str, float]:
        return {"shift_error": float(np.median(self.shift_error)),
                "focal_error_pct": 100 * float(np.median(self.focal_error)),
                "point_error": float(np.median(self.point_error))}


def point_error(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean ‖s·p - g‖ / mean ‖g‖ over corresponding (M, 3) points, s the least-squares scale."""
    scale = float((points * truth).sum() / max((points * points).sum(), 1e-12))
    return float(np.linalg.norm(scale * points - truth, axis=1).mean() / np.linalg.norm(truth, axis=1).mean())


def evaluate_recovery(model: Depth3DModel | None, views: list[DepthView], seed: int = 1,
                      ranges: DistortionRange | None = None, focal_guess_fov: float | None = None
                      ) -> Evaluation:
    """Distort each view at random (seeded) and score `model`'s recovery; `model=None` scores the identity
    baseline (shift 0, focal scale 1). `focal_guess_fov` replaces the random focal error with a fixed guess."""
    from recon3r.depth3d.geometry import depth_to_points, focal_from_fov
    from recon3r.depth3d.recover import recover_shift_and_focal

    ranges = ranges or DistortionRange()
    rng = np.random.default_rng(seed)
    shift_err, focal_err, point_err = [], [], []
    for view in views:
        guess = None if focal_guess_fov is None else float(focal_from_fov(view.depth.shape[1], focal_guess_fov))
        sample = distort_view(view, rng, ranges, focal_guess=guess)
        centre = torch.tensor([view.principal_point], dtype=torch.float64)
        if model is None:
            shift, focal = 0.0, sample.focal_guess
            depth = torch.as_tensor(sample.depth, dtype=torch.float64)
            points = depth_to_points(depth[None], torch.tensor([focal], dtype=torch.float64), centre)[0]
        else:
            result = recover_shift_and_focal(sample.depth.astype(np.float64), sample.focal_guess, model,
                                             principal_point=centre)
            shift, focal, points = float(result.relative_shift), float(result.focal), result.points
        truth = depth_to_points(torch.as_tensor(view.depth, dtype=torch.float64)[None],
                                torch.tensor([view.focal], dtype=torch.float64), centre)[0]
        valid = torch.as_tensor(sample.valid) & (points[..., 2] > 0)
        shift_err.append(abs(shift - sample.shift))
        focal_err.append(abs(focal / view.focal - 1))
        point_err.append(point_error(points[valid].numpy(), truth[valid].numpy()))
    return Evaluation(np.array(shift_err), np.array(focal_err), np.array(point_err))


def main(argv: list[str] | None = None) -> int:
    """`python -m recon3r.depth3d.train --out DIR [...]`: the recipe of the shipped model."""
    import argparse

    parser = argparse.ArgumentParser(description="Train the depth-to-3D shift and focal networks on procedural depth maps.")
    parser.add_argument("--out", required=True, help="folder for model.safetensors + config.json")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--train-views", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-points", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = TrainDepth3DConfig(model=Depth3DConfig(num_points=args.num_points), train_views=args.train_views,
                                steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                out_dir=args.out)
    result = train_depth3d(config)
    print(f"trained in {result.seconds:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
