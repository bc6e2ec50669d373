"""Relative pose of COLMAP and the shipped example model on the procedural benchmark and the dino ring.

Runs `recon3r.eval.tasks.evaluate("relpose", ...)` (what `recon3r eval relpose` runs) on
- `procedural:N` held-out procedural scenes (split 'test', seed 0, exact GT), and
- the 16 real photos of `../shared/data/middlebury_dino_sparse_ring` (calibrated K, R, t),
for the methods `colmap` (pycolmap, unknown intrinsics, 1 thread, seed 0) and `example` (the shipped
example model, pairs → global alignment, no known cameras). When the example model is not installed
its rows are left out with a note. The constant-plane baseline has no relative pose (every camera at
the origin), so it takes no part. Prints one Markdown table per set, the machine and the command.

    .venv/bin/python benchmarks/eval_models.py                      # 10 scenes × 4 views
    .venv/bin/python benchmarks/eval_models.py --scenes 3 --method path/to/checkpoint
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

DEFAULT_RING = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "middlebury_dino_sparse_ring"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=10, help="procedural scenes (default 10)")
    parser.add_argument("--views", type=int, default=4, help="views per procedural scene (default 4)")
    parser.add_argument("--render-size", type=int, default=224, help="procedural render size (default 224)")
    parser.add_argument("--ring", type=Path, default=DEFAULT_RING, help="calibrated ring folder")
    parser.add_argument("--method", action="append", default=[],
                        help="more methods (checkpoint paths); colmap and example always run")
    parser.add_argument("--size", type=int, choices=(224, 512), default=None,
                        help="network size of learned methods (default: the model's training size)")
    parser.add_argument("--niter", type=int, default=300, help="global alignment iterations (default 300)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON reports")
    parser.add_argument("--cache", type=Path, default=None, help="where to render the procedural set (reused)")
    args = parser.parse_args()

    import numpy as np
    import pycolmap
    import scipy
    import torch

    from recon3r.assets import example_model_path
    from recon3r.errors import ConfigError
    from recon3r.eval.benchmarks import load_benchmark
    from recon3r.eval.methods import resolve_method
    from recon3r.eval.report import format_table, write_json
    from recon3r.eval.tasks import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    specs = ["colmap", "example", *args.method]
    methods, notes = [], []
    for spec in specs:
        try:
            methods.append(resolve_method(spec, size=args.size, niter=args.niter, device=args.device))
        except ConfigError as err:
            notes.append(f"- `{spec}` row left out: {err}")

    sets = [f"procedural:{args.scenes}:views={args.views},size={args.render_size}", os.path.relpath(args.ring)]
    for spec in sets:
        benchmark = load_benchmark(spec, "relpose", size=args.size, cache_dir=args.cache)
        start = time.perf_counter()
        result = evaluate("relpose", benchmark, methods, progress=True)
        elapsed = time.perf_counter() - start
        benchmark.close()
        print(format_table(result))
        print(f"\n({elapsed:.0f} s for this set)\n")
        if args.out:
            name = "procedural" if spec.startswith("procedural") else Path(spec).name
            write_json(result, args.out / f"relpose_{name}.json")
    if notes:
        print("\n".join(notes) + "\n")
    example = example_model_path()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"pycolmap {pycolmap.__version__}, numpy {np.__version__}, scipy {scipy.__version__}; "
        f"example model: {'present' if (example / 'model.safetensors').is_file() else 'missing'}; "
        f"learned methods: size {args.size or 'model default'}, niter {args.niter}, complete graph, device "
        f"{args.device}; COLMAP: unknown K, 1 thread, seed 0."
        f"\n\nCommand: `{shlex.join([os.path.relpath(sys.executable), *sys.argv])}`"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
