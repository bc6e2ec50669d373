"""Relative-pose baselines on the real Middlebury dino ring; prints a Markdown table.

Runs the classical COLMAP baseline (`recon3r.eval.colmap_baseline.run_colmap`) on the 16
calibrated photos of `../shared/data/middlebury_dino_sparse_ring`, once with COLMAP's defaults
(unknown intrinsics) and once with the calibrated K fixed, and scores both with
`recon3r.eval.metrics.relpose_metrics` over all 120 pairs: images COLMAP does not register count
as failures in every pair they belong to. Learned-model rows are added by the `recon3r eval`
command on top of the same metric functions.

    .venv/bin/python benchmarks/eval_baselines.py                       # ~20 s on 2 cores
    .venv/bin/python benchmarks/eval_baselines.py --data path/to/ring   # another calibrated ring
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path

import numpy as np

from recon3r.eval.colmap_baseline import run_colmap
from recon3r.eval.metrics import relpose_metrics
from recon3r.eval.realsets import load_calibrated_ring

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "middlebury_dino_sparse_ring"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="calibrated ring folder")
    parser.add_argument("--threads", type=int, default=1, help="COLMAP threads (1 is reproducible)")
    parser.add_argument("--seed", type=int, default=0, help="COLMAP random seed")
    args = parser.parse_args()

    import pycolmap
    import scipy
    import torch

    ring = load_calibrated_ring(args.data)
    rows = []
    for label, intrinsics in (
        ("COLMAP (pycolmap), unknown K", None),
        ("COLMAP (pycolmap), known K", ring.intrinsics),
    ):
        result = run_colmap(ring.image_paths, intrinsics=intrinsics, num_threads=args.threads, seed=args.seed)
        metrics = relpose_metrics(result.world_from_cam, ring.world_from_cam, thresholds=(5, 15, 30))
        rows.append((label, metrics, result.num_registered, len(ring), result.seconds))

    name = args.data.resolve().name
    print(f"### Relative pose on `{name}` ({len(ring)} images, {len(ring) * (len(ring) - 1) // 2} pairs)\n")
    print("| method | RRA@15 | RTA@15 | mAA@30 | RRA@5 | RTA@5 | registered | time (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, m, registered, total, seconds in rows:
        print(
            f"| {label} | {m['RRA@15']:.1f} | {m['RTA@15']:.1f} | {m['mAA@30']:.1f} | {m['RRA@5']:.1f} "
            f"| {m['RTA@5']:.1f} | {registered}/{total} | {seconds:.1f} |"
        )
    print(
        "\nRRA/RTA/mAA in %, over all pairs i<j; unregistered images fail their pairs (error 180°)."
        f"\n\nMachine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, pycolmap {pycolmap.__version__}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, torch {torch.__version__}; COLMAP threads {args.threads}, seed {args.seed}."
        f"\n\nCommand: `{shlex.join([os.path.relpath(sys.executable), *sys.argv])}`"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
