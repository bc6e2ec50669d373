"""A small trainer for the streaming model on procedural walk-through sequences (CPU-friendly).

Ground truth per window of T consecutive frames: every frame's exact points in the first frame's
camera frame (the model's world frame) and in its own camera frame. The loss (`stream_loss`) is a
scale-invariant L2,1 (Regr3D's `avg_dis` normalisation, one factor per stream shared by world and
camera points) with DUSt3R's confidence weighting conf·ℓ − α·log conf. Kept apart from the pair
trainer (`recon3r.train`): a stream has one memory per sequence, so it trains on one stream a step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from recon3r.geometry.transforms import apply_transform, invert_transform

Sequence = dict[str, Tensor]


@dataclass
class StreamTrainConfig:
    """What `train_stream` runs. Sizes are (height, width); `model` overrides `Point3RConfig` fields."""

    model: dict[str, Any] = field(default_factory=dict)
    steps: int = 300
    frames: int = 4  # frames per training window
    train_scenes: int = 48
    test_scenes: int = 6
    views: int = 8  # frames rendered per procedural sequence
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup: int = 20
    alpha: float = 0.2
    clip_grad: float = 1.0
    seed: int = 0
    scene_seed: int = 0
    threads: int | None = 1  # torch.set_num_threads; None leaves it
    out_dir: str | None = None  # save_model here at the end when given


@dataclass
class StreamTrainResult:
    model: torch.nn.Module
    losses: list[float]  # training loss per step
    test_regr_initial: float  # held-out world+camera L2,1 (normalised) before training
    test_regr_final: float
    seconds: float


# ------------------------------------------------------------------------------------------ data
def load_sequences(split: str, scenes: int, views: int, image_size: tuple[int, int], scene_seed: int = 0
                   ) -> list[Sequence]:
    """Render `scenes` procedural walk-through sequences of `views` frames at (H, W) = `image_size`.

    Each sequence: `img` (V, 3, H, W) in [-1, 1], `pts3d` (V, H, W, 3) scene-frame points,
    `world_from_cam` (V, 4, 4), `valid` (V, H, W) bool, `depth` (V, H, W) z-depth, `intrinsics` (V, 3, 3).
    """
    from recon3r.data.multiview import Procedural

    height, width = image_size
    ds = Procedural(kind="sequence", scenes=scenes, views=views, size=max(height, width), split=split,
                    scene_seed=scene_seed, resolution=(width, height), num_views=None)
    out = []
    for s in range(scenes):
        vs = ds.scene(s, (width, height))
        out.append({
            "img": torch.stack([v["img"] for v in vs]),
            "pts3d": torch.stack([torch.as_tensor(v["pts3d"]) for v in vs]),
            "world_from_cam": torch.stack([torch.as_tensor(v["camera_pose"]) for v in vs]),
            "valid": torch.stack([torch.as_tensor(v["valid_mask"]) for v in vs]),
            "depth": torch.stack([torch.as_tensor(v["depthmap"]) for v in vs]),
            "intrinsics": torch.stack([torch.as_tensor(v["camera_intrinsics"]) for v in vs]),
            "name": vs[0]["label"],
        })
    return out


def window(seq: Sequence, start: int, frames: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Frames start..start+frames-1 of a sequence and their GT in the first frame's camera frame.

    Returns frames (T, 3, H, W) and a dict: `pts3d` (T, H, W, 3) in frame `start`'s camera frame,
    `pts3d_cam` (T, H, W, 3) each in its own camera frame, `valid` (T, H, W), `world_from_cam`
    (T, 4, 4) relative to frame `start`, `depth` (T, H, W), `intrinsics` (T, 3, 3).
    """
    sl = slice(start, start + frames)
    poses = seq["world_from_cam"][sl].double()
    first_from_world = invert_transform(poses[0])
    pts = seq["pts3d"][sl].double()
    gt = {
        "pts3d": apply_transform(first_from_world, pts).float(),
        "pts3d_cam": apply_transform(invert_transform(poses), pts).float(),
        "valid": seq["valid"][sl],
        "world_from_cam": (first_from_world @ poses).float(),
        "depth": seq["depth"][sl],
        "intrinsics": seq["intrinsics"][sl],
    }
    return seq["img"][sl], gt


# ------------------------------------------------------------------------------------------ loss
def stream_loss(outputs: list[dict[str, Any]], gt: dict[str, Tensor], alpha: float = 0.2
                ) -> tuple[Tensor, dict[str, float]]:
    """Confidence-weighted, scale-normalised L2,1 on world and camera pointmaps of one stream.

    Prediction and GT are each divided by their mean valid world-point distance to the origin
    (frame 0's camera), one factor per stream applied to both maps, so the loss ignores the global
    scale but keeps world and camera points consistent. Returns (loss, details) with `regr_world`
    and `regr_cam`, the unweighted normalised L2,1 (lower is better, 0 is exact).
    """
    valid = gt["valid"]
    if not valid.any():
        raise ValueError("the window has no valid GT pixel")
    pred_w = torch.cat([o["pts3d"] for o in outputs])
    pred_c = torch.cat([o["pts3d_cam"] for o in outputs])
    conf_w = torch.cat([o["conf"] for o in outputs])[valid]
    conf_c = torch.cat([o["conf_cam"] for o in outputs])[valid]
    f_pred = pred_w[valid].norm(dim=-1).mean().clamp_min(1e-8)
    f_gt = gt["pts3d"][valid].norm(dim=-1).mean().clamp_min(1e-8)
    l_w = (pred_w[valid] / f_pred - gt["pts3d"][valid] / f_gt).norm(dim=-1)
    l_c = (pred_c[valid] / f_pred - gt["pts3d_cam"][valid] / f_gt).norm(dim=-1)
    loss = (conf_w * l_w - alpha * conf_w.log()).mean() + (conf_c * l_c - alpha * conf_c.log()).mean()
    return loss, {"loss": float(loss.detach()), "regr_world": float(l_w.detach().mean()),
                  "regr_cam": float(l_c.detach().mean())}


@torch.no_grad()
def evaluate_regr(model: torch.nn.Module, sequences: list[Sequence], frames: int) -> float:
    """Mean held-out `regr_world + regr_cam` over the first `frames` frames of each sequence."""
    was_training = model.training
    model.eval()
    total = 0.0
    for seq in sequences:
        imgs, gt = window(seq, 0, frames)
        outputs, _ = model.forward_stream(imgs)
        _, details = stream_loss(outputs, gt)
        total += details["regr_world"] + details["regr_cam"]
    model.train(was_training)
    return total / len(sequences)


# ------------------------------------------------------------------------------------- training
def train_stream(config: StreamTrainConfig | None = None, *, train_data: list[Sequence] | None = None,
                 test_data: list[Sequence] | None = None) -> StreamTrainResult:
    """Train a `Point3R` on procedural sequences (split 'train'), report held-out regression ('test').

    One random window of `config.frames` frames per step, AdamW with linear warm-up and cosine decay.
    Pre-rendered `train_data` / `test_data` (from `load_sequences`) can be passed to skip rendering.
    """
    from recon3r.models.point3r import Point3R

    config = config or StreamTrainConfig()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    start_time = time.perf_counter()
    torch.manual_seed(config.seed)
    model = Point3R(**config.model)
    size = model.cfg.img_size
    if config.views < config.frames:
        raise ValueError(f"views ({config.views}) must be >= frames per window ({config.frames})")
    train_data = train_data or load_sequences("train", config.train_scenes, config.views, size, config.scene_seed)
    test_data = test_data or load_sequences("test", config.test_scenes, config.views, size, config.scene_seed)
    initial = evaluate_regr(model, test_data, config.frames)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = torch.Generator().manual_seed(config.seed)
    losses = []
    model.train()
    for step in range(config.steps):
        lr = config.lr * min(1.0, (step + 1) / max(config.warmup, 1))
        lr *= 0.5 * (1 + math.cos(math.pi * step / max(config.steps, 1)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        seq = train_data[int(torch.randint(len(train_data), (1,), generator=rng))]
        first = int(torch.randint(seq["img"].shape[0] - config.frames + 1, (1,), generator=rng))
        imgs, gt = window(seq, first, config.frames)
        outputs, _ = model.forward_stream(imgs)
        loss, _ = stream_loss(outputs, gt, config.alpha)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
        optimizer.step()
        losses.append(float(loss.detach()))
    final = evaluate_regr(model, test_data, config.frames)
    model.eval()
    if config.out_dir is not None:
        from recon3r.models.checkpoint import save_model

        save_model(model, Path(config.out_dir))
    return StreamTrainResult(model, losses, initial, final, time.perf_counter() - start_time)
