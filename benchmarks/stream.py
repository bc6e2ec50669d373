"""Streaming reconstruction on held-out procedural walk-throughs: a tiny trained Point3R vs untrained vs a plane.

Trains `recon3r.models.point3r.Point3R` (the 'tiny' config) with `recon3r.stream.train_stream` on
procedural sequences (split 'train'; one random window of `--frames` frames per step, on one CPU
thread), then runs whole held-out sequences (split 'test', `--views` frames each) online through
`recon3r.stream.reconstruct_stream` and scores, per sequence then averaged:

- Regr3D L2,1: mean ‖p/ā_p − g/ā_g‖ over valid pixels of all frames, world frame = frame 0's camera,
  ā the mean distance of the valid world points to the origin (the training normalisation);
- Sim(3) point error: mean ‖s·R·p + t − g‖ / mean ‖g − ḡ‖ after the Umeyama similarity fitted on all
  valid pixels of the sequence (0 = perfect up to a similarity, 1 ≈ collapsing to the centroid);
- depth AbsRel with one median scale per frame (`recon3r.eval.metrics.depth_metrics`);
- ATE: RMSE of camera centres after the Sim(3) trajectory alignment, in the scene unit; a collapsed
  trajectory (all centres equal, the plane) scores the RMS distance of the true centres to their mean;
- memory size after the last frame (pointers) and model time per frame.
Rows: `Point3R tiny (trained)`, `Point3R tiny (untrained)` (the same seed-0 initialisation before
training) and `constant plane` (every frame a fronto-parallel plane at depth 1 seen by a camera at
the identity pose, focal max(H, W)).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stream.py [--steps 4000] [--save-weights DIR]   # about 5 min
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import time

import numpy as np
import torch


def sequence_metrics(points, depths, poses, gt) -> dict[str, float]:
    """Scores of one predicted sequence: points (T, H, W, 3) world, depths (T, H, W), poses (T, 4, 4)."""
    from recon3r.eval.metrics import absolute_trajectory_error, depth_metrics
    from recon3r.geometry.registration import umeyama

    valid = gt["valid"]
    p = torch.as_tensor(points, dtype=torch.float64)[valid]
    g = gt["pts3d"].double()[valid]
    regr = (p / p.norm(dim=-1).mean() - g / g.norm(dim=-1).mean()).norm(dim=-1).mean()
    s, rot, t = umeyama(p, g)
    sim3 = ((s * p @ rot.T + t) - g).norm(dim=-1).mean() / (g - g.mean(0)).norm(dim=-1).mean()
    absrel = depth_metrics(np.asarray(depths), gt["depth"].numpy(), valid.numpy(), align="median")["abs_rel"]
    poses = torch.as_tensor(poses, dtype=torch.float64)
    gt_centres = gt["world_from_cam"].double()[:, :3, 3]
    if float((poses[:, :3, 3] - poses[:, :3, 3].mean(0)).norm(dim=-1).max()) < 1e-9:
        ate = float((gt_centres - gt_centres.mean(0)).square().sum(-1).mean().sqrt())
    else:
        ate = float(absolute_trajectory_error(poses, gt["world_from_cam"].double()))
    return {"regr": float(regr), "sim3": float(sim3), "absrel": float(absrel), "ate": ate}


def plane_prediction(frames: int, height: int, width: int):
    """The trivial baseline: depth-1 planes at the identity pose for every frame."""
    focal = float(max(height, width))
    v, u = np.meshgrid(np.arange(height) - height / 2, np.arange(width) - width / 2, indexing="ij")
    plane = np.stack([u / focal, v / focal, np.ones_like(u)], axis=-1)
    return np.repeat(plane[None], frames, 0), np.ones((frames, height, width)), np.repeat(np.eye(4)[None], frames, 0)


def evaluate(name: str, model, sequences) -> dict[str, float]:
    from recon3r.stream.reconstruct import reconstruct_stream
    from recon3r.stream.train import window

    rows = []
    for seq in sequences:
        frames, gt = window(seq, 0, seq["img"].shape[0])
        if model is None:
            start = time.perf_counter()
            points, depths, poses = plane_prediction(*frames.shape[:1], *frames.shape[2:])
            extra = {"memory": 0.0, "ms": 1000 * (time.perf_counter() - start) / len(frames)}
        else:
            result = reconstruct_stream(frames, model)
            points, depths, poses = result.points, result.depths, result.world_from_cam
            extra = {"memory": float(result.memory_sizes[-1]), "ms": 1000 * float(result.seconds_per_frame.mean())}
        rows.append({**sequence_metrics(points, depths, poses, gt), **extra})
    return {"method": name, **{k: float(np.mean([r[k] for r in rows])) for k in rows[0]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000, help="training steps (one window each; default 4000)")
    parser.add_argument("--frames", type=int, default=4, help="frames per training window (default 4)")
    parser.add_argument("--train-scenes", type=int, default=400, help="procedural training sequences (default 400)")
    parser.add_argument("--test-scenes", type=int, default=12, help="held-out sequences evaluated (default 12)")
    parser.add_argument("--views", type=int, default=8, help="frames per sequence (default 8)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-weights", default=None, help="also save the trained model (safetensors + config.json) here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from recon3r.models.point3r import Point3R
    from recon3r.stream.train import StreamTrainConfig, load_sequences, train_stream

    config = StreamTrainConfig(steps=args.steps, frames=args.frames, train_scenes=args.train_scenes,
                               test_scenes=args.test_scenes, views=args.views, lr=args.lr, seed=args.seed, out_dir=args.save_weights)
    torch.manual_seed(config.seed)
    untrained = Point3R(**config.model).eval()  # train_stream starts from exactly this initialisation
    size = untrained.cfg.img_size
    test = load_sequences("test", config.test_scenes, config.views, size, config.scene_seed)
    train = load_sequences("train", config.train_scenes, config.views, size, config.scene_seed)
    result = train_stream(config, train_data=train, test_data=test)
    rows = [evaluate("Point3R tiny (trained)", result.model, test),
            evaluate("Point3R tiny (untrained)", copy.deepcopy(untrained), test),
            evaluate("constant plane", None, test)]

    n_params = sum(p.numel() for p in untrained.parameters())
    print(f"Held-out procedural walk-throughs: {len(test)} sequences × {config.views} frames at {size[1]}×{size[0]} "
          f"(split 'test'). Training: {config.steps} steps × {config.frames}-frame windows from {len(train)} sequences, "
          f"{result.seconds:.0f} s on 1 CPU thread; {n_params / 1e6:.2f} M parameters.\n")
    print("| method | Regr3D L2,1 (avg_dis) ↓ | Sim(3) point error ↓ | depth AbsRel (median) ↓ | ATE (scene unit) ↓ "
          "| memory after last frame (pointers) | ms / frame |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['regr']:.3f} | {r['sim3']:.3f} | {r['absrel']:.3f} | {r['ate']:.3f} "
              f"| {r['memory']:.0f} | {r['ms']:.1f} |")
    print(f"\nCommand: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stream.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Machine: {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}, "
          f"torch {torch.__version__}, 1 torch thread. Tokens per frame: {(size[0] // 8) * (size[1] // 8)}.")


if __name__ == "__main__":
    main()
