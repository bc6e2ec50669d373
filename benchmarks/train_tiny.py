"""Evidence of learning: the example model at the start and at the end of training, against a trivial baseline.

Evaluates on held-out procedural pairs (split `test`, never seen in training) with
`recon3r.eval.pairs.evaluate_pairs`:
- Regr3D_ScaleShiftInv (the DUSt3R test loss, lower is better),
- view-1 depth AbsRel and δ<1.25 after per-frame median scaling,
- relative focal error of the focal estimated from view 1's pointmap.

Rows: `start` (the same architecture at its seed-0 initialisation, i.e. step 0 of the run),
`end` (a trained checkpoint: by default the shipped example model), and `constant plane` (both
views predicted as a fronto-parallel plane through a 60° camera).

    .venv/bin/python benchmarks/train_tiny.py                       # evaluate the shipped model
    .venv/bin/python benchmarks/train_tiny.py --checkpoint runs/example_model/checkpoint-last
    .venv/bin/python benchmarks/train_tiny.py --train               # first run examples/train_example_model.sh
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="trained model folder (default: the shipped example model)")
    parser.add_argument("--pairs", type=int, default=200, help="held-out pairs to evaluate (default: 200)")
    parser.add_argument("--scenes", type=int, default=24, help="held-out procedural scenes they come from")
    parser.add_argument("--resolution", default="224x224", help="evaluation resolution WxH (default: 224x224)")
    parser.add_argument("--train", action="store_true", help="run examples/train_example_model.sh first (about an hour on 2 CPU cores)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--kind", default="pairs", help="procedural capture kind of the held-out scenes (default: pairs)")
    parser.add_argument("--simreal", action="store_true",
                        help="held-out scenes of the sim-to-real generator (photo textures, photometric camera)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from recon3r.assets import example_model_path
    from recon3r.data import DATASETS
    from recon3r.eval.pairs import constant_plane_predictor, evaluate_pairs
    from recon3r.models import build_model, load_model
    from recon3r.utils.spec import parse_spec

    if args.train:
        subprocess.run([str(ROOT / "examples" / "train_example_model.sh")], check=True, cwd=ROOT)
        args.checkpoint = args.checkpoint or str(ROOT / "runs" / "example_model" / "checkpoint-last")
    checkpoint = Path(args.checkpoint) if args.checkpoint else example_model_path()
    trained = load_model(checkpoint)
    config = dict(trained.config)
    torch.manual_seed(0)
    start = build_model(type(trained).__name__, config)  # the run's step-0 weights (seed 0)

    width, height = (int(v) for v in args.resolution.lower().split("x"))
    dataset = parse_spec(
        f"{args.pairs} @ Procedural(scenes={args.scenes}, views=8, size=224, split='test', resolution=({width}, {height}), "
        f"kind='{args.kind}'" + (", textures='photo', photometric=True)" if args.simreal else ")"),
        DATASETS, allow_operators=True,
    )
    rows = []
    for name, predictor in (("start (step 0)", start), ("end (trained)", trained), ("constant plane", constant_plane_predictor())):
        tick = time.perf_counter()
        metrics = evaluate_pairs(predictor, dataset, batch_size=8)
        rows.append((name, metrics, time.perf_counter() - tick))

    style = f"{args.kind}, sim-to-real" if args.simreal else args.kind
    print(f"### Held-out procedural pairs ({rows[0][1]['pairs']} pairs from {args.scenes} test scenes ({style}), "
          f"{width}×{height})\n")
    print("| model | Regr3D_ScaleShiftInv ↓ | depth AbsRel ↓ | δ<1.25 (%) ↑ | focal rel. error ↓ |")
    print("|---|---:|---:|---:|---:|")
    for name, m, _ in rows:
        print(f"| {name} | {m['regr3d_ssi']:.4f} | {m['abs_rel']:.4f} | {m['delta_1']:.1f} | {m['focal_rel_err']:.3f} |")
    print(f"\n- checkpoint: `{checkpoint.relative_to(ROOT) if checkpoint.is_relative_to(ROOT) else checkpoint}`"
          f" ({sum(p.numel() for p in trained.parameters()) / 1e6:.2f} M parameters)")
    print(f"- machine: {platform.machine()} ({os.cpu_count()} logical CPUs), {platform.platform()}; Python "
          f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    command = shlex.join(["python", "benchmarks/train_tiny.py", *sys.argv[1:]])
    print(f"- command: `{command}`")


if __name__ == "__main__":
    main()
