"""Calibrate `--min-conf`: does a confidence threshold keep the accurate points? Prints Markdown tables.

For held-out procedural scenes (split `test`, a seed other than the relpose table's) the shipped
example model reconstructs each scene as `recon3r reconstruct` does (all pairs, global alignment);
the predicted points of every GT-valid pixel are aligned to the GT points by one Sim(3) per scene,
and a point's error is its distance to the GT point over the GT point's distance from its camera.
For each threshold rule (the shipped `auto` = min(3, median confidence), other quantiles, fixed
values) the table gives the share of points kept and the median error of kept and discarded points
(`recon3r.align.confidence.keep_split`), pooled over scenes, and the per-scene ratios. The last table
is the bundled scene (`make demo`): the share each rule keeps there.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/confidence.py              # 8 scenes × 4 views
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/confidence.py --scenes 3 --niter 50
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "examples" / "procedural_scene" / "scene_00000" / "images"


def rules() -> list[tuple[str, object]]:
    """(label, threshold function of the scene's confidences)."""
    out: list[tuple[str, object]] = [("auto: min(3, median) (default)", lambda c: min(3.0, float(np.quantile(c, 0.5))))]
    for q in (0.3, 0.4, 0.6, 0.7):
        out.append((f"min(3, quantile {q:g})", lambda c, q=q: min(3.0, float(np.quantile(c, q)))))
    for value in (1.5, 2.0, 3.0):
        out.append((f"fixed {value:g}", lambda c, v=value: v))
    return out


def scene_points(model, scene, niter: int, error: str = "points") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confidence, relative error, confidence rank within its image) (P,) of every GT-valid pixel of a scene."""
    from recon3r.eval.metrics import align_point_clouds
    from recon3r.eval.tasks import gt_depth_on_grid, gt_points_on_grid
    from recon3r.reconstruct import ReconstructConfig, reconstruct

    config = ReconstructConfig(images=[str(p) for p in scene.image_paths], niter=niter, formats=(), progress=False,
                               device="cpu")
    out = reconstruct(config, model=model).scene
    pred, gt, conf, dist, depth_err = [], [], [], [], []
    for v in range(len(scene)):
        g, valid = gt_points_on_grid(scene.depths[v], scene.intrinsics[v], scene.world_from_cam[v], out.transforms[v])
        pred.append(np.asarray(out.points[v], dtype=np.float64)[valid])
        gt.append(g[valid])
        conf.append(np.asarray(out.confidences[v], dtype=np.float64)[valid])
        dist.append(np.linalg.norm(g[valid] - scene.world_from_cam[v][:3, 3], axis=1))
        z_gt, valid_z = gt_depth_on_grid(scene.depths[v], out.transforms[v])
        z = np.asarray(out.depths[v], dtype=np.float64)[valid]
        z_gt = z_gt[valid]
        depth_err.append(np.abs(z * np.median(z_gt / z) - z_gt) / z_gt)
    pred, gt = np.concatenate(pred), np.concatenate(gt)
    transform = align_point_clouds(pred, gt, "sim3")
    aligned = pred @ transform[:3, :3].T + transform[:3, 3]
    point_err = np.linalg.norm(aligned - gt, axis=1) / np.concatenate(dist)
    # Confidence as a rank within its own image (0 lowest … 1 highest), for the per-image rule.
    ranks = np.concatenate([(np.argsort(np.argsort(c)) + 0.5) / len(c) for c in conf])
    return np.concatenate(conf), (point_err if error == "points" else np.concatenate(depth_err)), ranks


def bundled_confidences(model) -> np.ndarray:
    """Every image confidence of the bundled scene, as `recon3r reconstruct` thresholds them."""
    from recon3r.align.graph import build_pair_graph
    from recon3r.inference import run_pairs
    from recon3r.io import load_images
    from recon3r.pairs import make_pairs

    views = load_images(str(BUNDLED), size=224, show_progress=False)
    predictions = run_pairs(model, make_pairs(views, graph="complete", symmetrize=True), batch_size=8,
                            device=torch.device("cpu"), progress=False)
    graph = build_pair_graph(predictions, [v.rgb().shape[:2] for v in views])
    return torch.cat([c.reshape(-1) for c in graph.image_confidence()]).numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1, help="procedural seed of the held-out scenes (relpose uses 0)")
    parser.add_argument("--niter", type=int, default=100, help="global alignment steps")
    parser.add_argument("--weights", default=None, help="model folder (default: the shipped example model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--error", choices=("points", "depth"), default="points",
                        help="points: distance to the GT point after one Sim(3) per scene, over the GT distance "
                        "from the camera; depth: each view's depth error after its own median scaling (pose-free)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from recon3r import load_model
    from recon3r.align.confidence import keep_split
    from recon3r.assets import example_model_path
    from recon3r.eval.benchmarks import load_benchmark

    weights = Path(args.weights) if args.weights else example_model_path()
    model = load_model(weights, device="cpu", task="pair").eval()
    benchmark = load_benchmark(f"procedural:{args.scenes}:views={args.views},size=224,seed={args.seed}", "mv_recon")
    start = time.perf_counter()
    per_scene = [scene_points(model, scene, args.niter, args.error) for scene in benchmark.scenes]
    elapsed = time.perf_counter() - start

    print(f"### Confidence thresholds on {args.scenes} held-out procedural scenes × {args.views} views "
          f"(seed {args.seed}, split test, 224 px, {args.niter} alignment steps, {args.error} error)\n")
    print("| rule | kept (%) | kept median error | discarded median error | ratio (pooled) | ratio per scene: median (max) |")
    print("|---|---:|---:|---:|---:|---:|")
    err = np.concatenate([e for _, e, _ in per_scene])
    for label, rule in [*rules(), ("per image: its own median (not a --min-conf rule)", None)]:
        if rule is None:  # each image keeps its more confident half
            keeps = [r >= 0.5 for _, _, r in per_scene]
        else:  # each scene gets its own threshold, as in reconstruct
            keeps = [c >= rule(c) for c, _, _ in per_scene]
        pooled = keep_split(np.concatenate(keeps).astype(float), err, 0.5)
        ratios = [keep_split(k.astype(float), e, 0.5)["error_ratio"] for k, (_, e, _) in zip(keeps, per_scene)]
        ratios = [r for r in ratios if np.isfinite(r)] or [float("nan")]
        print(f"| {label} | {100 * pooled['kept_fraction']:.1f} | {pooled['kept_median_error']:.4f} | "
              f"{pooled['discarded_median_error']:.4f} | {pooled['error_ratio']:.3f} | "
              f"{np.median(ratios):.3f} ({np.max(ratios):.3f}) |")
    bundled = bundled_confidences(model)
    print(f"\n### The bundled scene (`make demo`: {BUNDLED.relative_to(ROOT)}, 6 views, 30 pairs)\n")
    print(f"confidences: median {np.median(bundled):.3f}, mean {bundled.mean():.3f}, 90th percentile "
          f"{np.quantile(bundled, 0.9):.3f}\n")
    print("| rule | threshold | kept (%) |")
    print("|---|---:|---:|")
    for label, rule in rules():
        threshold = rule(bundled)
        print(f"| {label} | {threshold:.3f} | {100 * float((bundled >= threshold).mean()):.1f} |")
    print(f"\n- model: `{weights}`; {elapsed:.0f} s for the held-out scenes")
    print(f"- machine: {platform.machine()} ({os.cpu_count()} logical CPUs), Python {platform.python_version()}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"- command: `{shlex.join(['python', 'benchmarks/confidence.py', *sys.argv[1:]])}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
