"""Benchmark procedural scene generation: time to write N scenes × V views; prints a Markdown table.

Runs `write_procedural` (what `recon3r data make-procedural` calls) into a temporary folder for each
requested path kind and worker count, and reports wall time, time per view, views/s and disk size.
Also times loading pairs back through the `Procedural` dataset (crop to 224×224, ColorJitter).

    .venv/bin/python benchmarks/procedural.py                        # 100 scenes × 10 views at 224, 2 workers
    .venv/bin/python benchmarks/procedural.py --scenes 10 --views 4  # quick
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path


def disk_usage(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--kinds", default="pairs", help="comma-separated: pairs,sequence,orbit,object,forward,indoor")
    parser.add_argument("--styles", default="plain",
                        help="comma-separated: plain (procedural textures), simreal (photo textures + photometric)")
    parser.add_argument("--workers", default="2", help="comma-separated worker counts")
    parser.add_argument("--load-items", type=int, default=200, help="pairs to read back through the dataset")
    parser.add_argument("--count-pairs", action="store_true",
                        help="count the training pairs (overlap >= 0.15 both ways) the scenes give")
    args = parser.parse_args()

    from recon3r.data import ColorJitter, Procedural
    from recon3r.data.procedural import write_procedural

    rows = []
    styles = {"plain": {}, "simreal": {"textures": "photo", "photometric": True}}
    for kind, style in ((k, s) for k in args.kinds.split(",") for s in args.styles.split(",")):
        for workers in (int(w) for w in args.workers.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "procedural"
                start, cpu_start = time.perf_counter(), time.process_time()
                write_procedural(out, args.scenes, args.views, size=args.size, seed=0, kind=kind, workers=workers,
                                 **styles[style])
                elapsed = time.perf_counter() - start
                cpu = time.process_time() - cpu_start  # this process only: meaningful with 1 worker
                views = args.scenes * args.views
                load = ""
                if args.load_items:
                    ds = Procedural(str(out), resolution=224, transform=ColorJitter, aug_crop=16)
                    count = min(args.load_items, len(ds))
                    t0 = time.perf_counter()
                    for i in range(count):
                        ds[i * len(ds) // count]
                    load = f"{count / (time.perf_counter() - t0):.1f}"
                pairs = len(Procedural(str(out)).items) if args.count_pairs else ""
                rows.append((kind, style, workers, f"{elapsed:.1f}", f"{1000 * elapsed / views:.0f}",
                             f"{1000 * cpu / views:.0f}" if workers == 1 else "-",
                             f"{views / elapsed:.1f}", f"{args.scenes / elapsed:.2f}", pairs,
                             f"{disk_usage(out) / 2**20:.0f}", load))

    print(f"Procedural generation: {args.scenes} scenes × {args.views} views, size {args.size} "
          f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}); "
          f"load average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print()
    print("| kind | style | workers | wall time (s) | ms / view | CPU ms / view | views / s | scenes / s | training pairs "
          "| disk (MiB) | pairs / s loaded (224², ColorJitter) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print()
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
