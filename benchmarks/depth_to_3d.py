"""Depth to 3D on held-out procedural depth maps: the shipped model (or --weights) against both baselines.

Two held-out sets ('test' split, never seen in training), reported separately:
- scenes: single views of rooms and yards (`Procedural(kind='pairs')`, true horizontal FOV 35–80°);
- objects: one object alone, depth only on it (`Procedural(kind='object')`, true FOV 25–60°).

Each map is distorted once, with a seed: a random depth shift (the observed depth is D/median(D) − t,
renormalised to median 1) and a starting focal guess that is either off by a random factor in
[1/1.9, 1.9] ("random") or the fixed 60° horizontal field of view the CLI assumes ("60°"). Rows:
- no correction: shift 0 and the guessed focal (with the 60° guess: the "60° FOV" baseline);
- the model, starting from that guess.
Columns (medians over maps): shift error |predicted − true| in units of the observed median depth;
focal error |predicted / true focal − 1| (median and 90th percentile); point error mean ‖s·p − g‖ / mean ‖g‖ after the
least-squares scale s; ms per map (pixel sampling, the networks, unprojection; one CPU thread).

    OMP_NUM_THREADS=1 python benchmarks/depth_to_3d.py [--views 200] [--size 64] [--weights DIR] [--iterations K]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np
import torch


def held_out_views(kind: str, count: int, size: int, min_valid: float):
    """`count` 'test'-split single views of procedural `kind` with at least `min_valid` of their pixels on a surface."""
    from recon3r.data.multiview import Procedural
    from recon3r.eval.depth_to_3d import DepthView

    views, scenes = [], count
    while len(views) < count:
        dataset = Procedural(scenes=scenes, views=1, kind=kind, size=size, split="test", num_views=1)
        views = []
        for s in range(dataset.num_scenes):
            view = dataset.scene(s)[0]
            if (view["depthmap"] > 0).mean() >= min_valid:
                views.append(DepthView(view["depthmap"], view["camera_intrinsics"].astype(np.float64), None,
                                       view["label"]))
            if len(views) == count:
                break
        scenes *= 2
    return views


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=200, help="held-out maps per set")
    parser.add_argument("--size", type=int, default=64, help="procedural image size (the model trained at 64)")
    parser.add_argument("--weights", help="Depth3DModel folder (default: the shipped model)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="rounds of shift-then-focal recovery (default: the model's refine_iterations)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the distortions")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from recon3r.depth3d import load_default_model, load_depth3d_model
    from recon3r.eval.depth_to_3d import evaluate_recovery

    model = load_depth3d_model(args.weights) if args.weights else load_default_model()
    if args.iterations is not None:
        model.refine_iterations = args.iterations
    name = f"Depth3DModel ({args.weights or 'shipped'}, {model.refine_iterations} round(s))"
    sets = {"scenes": held_out_views("pairs", args.views, args.size, 0.3),
            "objects": held_out_views("object", args.views, args.size, 0.02)}
    rows = []
    for set_name, views in sets.items():
        for guess_name, fov in (("random (×1/1.9 … ×1.9)", None), ("60° FOV", 60.0)):
            for method, m in (("no correction", None), (name, model)):
                start = time.perf_counter()
                errors = evaluate_recovery(m, views, seed=args.seed, focal_guess_fov=fov)
                summary = {**errors.summary(), "focal_p90": 100 * float(np.percentile(errors.focal_error, 90))}
                per_map = (time.perf_counter() - start) / len(views) * 1000
                rows.append((set_name, guess_name, method, summary, per_map))

    print(f"{args.views} held-out procedural depth maps per set ('test' split, size {args.size}); "
          f"python {platform.python_version()}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, 1 thread\n")
    print("| set | focal guess | method | shift error (median, × median depth) | focal error (median) "
          "| focal error (90th percentile) | point error after scale alignment (median) | ms / map |")
    print("|---|---|---|---|---|---|---|---|")
    for set_name, guess_name, method, s, per_map in rows:
        print(f"| {set_name} | {guess_name} | {method} | {s['shift_error']:.3f} | {s['focal_error_pct']:.1f}% "
              f"| {s['focal_p90']:.1f}% | {s['point_error']:.3f} | {per_map:.1f} |")
    print(f"\ncommand: OMP_NUM_THREADS=1 python {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
