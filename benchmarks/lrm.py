"""ModelLRM configurations through `recon3r eval novel_view`: cost per object at each size (random weights).

A thin wrapper over the evaluator (`recon3r.eval.tasks.evaluate("novel_view", ...)`, what
`recon3r eval novel_view` runs): each configuration is built with random weights (the cost does not
depend on them; their PSNR / SSIM / IoU are not a quality measure) and evaluated on held-out
procedural objects beside the mean-colour baseline. Configurations: `tiny` (ModelLRM.tiny_config)
and OpenLRM's released `small` / `base` / `large` architectures at their source sizes (224 / 336 /
448). The time per object covers image → triplane, rendering the V − 1 held-out views at the
render size, and the mesh grid (`--mesh-size`) for the Chamfer distance.

For a checkpoint, use the command itself: `recon3r eval novel_view --benchmark SET --method CKPT`.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lrm.py [--configs tiny,small] [--objects 2] [--views 3]
        [--size 64] [--mesh-size 64] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import sys

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,small", help="comma-separated: tiny, small, base, large")
    parser.add_argument("--objects", type=int, default=2, help="held-out procedural objects (default 2)")
    parser.add_argument("--views", type=int, default=3, help="renders per object, view 0 the input (default 3)")
    parser.add_argument("--size", type=int, default=64, help="render size of the objects (default 64)")
    parser.add_argument("--mesh-size", type=int, default=64, help="marching-cubes grid (default 64; OpenLRM uses 384)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from recon3r.eval.benchmarks import load_benchmark
    from recon3r.eval.methods import default_baselines
    from recon3r.eval.novel_view import NovelViewMethod
    from recon3r.eval.report import format_table
    from recon3r.eval.tasks import evaluate
    from recon3r.models.lrm import OPENLRM_CONFIGS, ModelLRM

    methods, parameters = [], {}
    for name in (c.strip() for c in args.configs.split(",")):
        torch.manual_seed(0)
        model = ModelLRM(**(ModelLRM.tiny_config if name == "tiny" else OPENLRM_CONFIGS[name])).to(args.device).eval()
        parameters[name] = sum(p.numel() for p in model.parameters())
        methods.append(NovelViewMethod(model=model, name=name, device=args.device, mesh_size=args.mesh_size))
    benchmark = load_benchmark(f"procedural:{args.objects}:views={args.views},size={args.size}", "novel_view")
    try:
        result = evaluate("novel_view", benchmark, methods + default_baselines("novel_view"), progress=False)
    finally:
        benchmark.close()
    print(format_table(result))
    print("\nParameters: " + ", ".join(f"{name} {count / 1e6:.2f} M" for name, count in parameters.items())
          + " (random weights: the quality columns are not a measure of the architecture)")
    print(f"Command: OMP_NUM_THREADS={args.threads} .venv/bin/python benchmarks/lrm.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}; Python {platform.python_version()}, "
          f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}")


if __name__ == "__main__":
    main()
