"""Depth to 3D on held-out procedural depth maps: the identity baseline vs the shipped model (or --weights).

Each held-out view ('test' split, never seen in training) is distorted once, with a seed: a random
depth shift (the observed depth is D/median(D) - t, renormalised to median 1) and a focal guess that
is either off by a random factor in [1/1.9, 1.9] ("random") or the fixed 60° horizontal field of view
that the CLI assumes ("60°"; the true FOVs are 35–80°). Columns (medians over views):

- shift error: |predicted - true| shift, in units of the observed median depth;
- focal error: |predicted / true focal - 1|;
- point error: mean ‖s·p - g‖ / mean ‖g‖ between corrected and true camera-frame points at the same
  pixels, after the least-squares scale s (the scale of a monocular depth stays unknown);
- ms / map: time of one recovery (pixel sampling + both networks + unprojection), one CPU thread.

    OMP_NUM_THREADS=1 python benchmarks/depth_to_3d.py [--views 200] [--size 96] [--weights DIR]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=200, help="held-out views")
    parser.add_argument("--size", type=int, default=96, help="procedural image size (the model trained at 64)")
    parser.add_argument("--weights", help="Depth3DModel folder (default: the shipped model)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the distortions")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from recon3r.depth3d import load_default_model, load_depth3d_model
    from recon3r.eval.depth_to_3d import evaluate_recovery, held_out_depth_views

    model = load_depth3d_model(args.weights) if args.weights else load_default_model()
    start = time.perf_counter()
    views = held_out_depth_views(args.views, size=args.size)
    render_s = time.perf_counter() - start
    rows = []
    for guess_name, fov in (("random (×1/1.9 … ×1.9)", None), ("60° FOV", 60.0)):
        for method, m in (("identity (shift 0, focal scale 1)", None), ("Depth3DModel (shipped)" if not args.weights
                                                                        else f"Depth3DModel ({args.weights})", model)):
            start = time.perf_counter()
            summary = evaluate_recovery(m, views, seed=args.seed, focal_guess_fov=fov).summary()
            per_map = (time.perf_counter() - start) / len(views) * 1000
            rows.append((guess_name, method, summary, per_map))

    print(f"{len(views)} held-out procedural depth maps ('test' split, size {args.size}, rendered in {render_s:.0f} s); "
          f"python {platform.python_version()}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"1 thread\n")
    print("| focal guess | method | shift error (median, × median depth) | focal error (median) "
          "| point error after scale alignment (median) | ms / map |")
    print("|---|---|---|---|---|---|")
    for guess_name, method, s, per_map in rows:
        print(f"| {guess_name} | {method} | {s['shift_error']:.3f} | {s['focal_error_pct']:.1f}% "
              f"| {s['point_error']:.3f} | {per_map:.1f} |")
    print(f"\ncommand: OMP_NUM_THREADS=1 python {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
