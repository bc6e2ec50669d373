"""ModelLRM inference cost per stage: image → triplane, one rendered view, the mesh grid.

For each configuration (random weights: the cost does not depend on them) it times, on one
image and one view:
- `planes`: encoder + camera embedding + triplane transformer + upsampler (`forward_planes`);
- `render`: one S_r × S_r view with samples_per_ray (coarse + importance) samples per ray;
- `grid`: the density / colour field on a G³ grid (`forward_grid`), the mesh-extraction query.
Configurations: `tiny` (ModelLRM.tiny_config) and OpenLRM's released `small` / `base` / `large`
architectures at their inference sizes (source 224 / 336 / 448, render 192 / 288 / 384).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lrm.py [--configs tiny,small] [--grid 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1000 * (time.perf_counter() - start) / repeats


def measure(name: str, grid: int, repeats: int, device: str) -> dict:
    from recon3r.lrm.cameras import canonical_source_camera, inference_sizes, orbit_render_cameras
    from recon3r.models.lrm import OPENLRM_CONFIGS, ModelLRM

    torch.manual_seed(0)
    config = ModelLRM.tiny_config if name == "tiny" else OPENLRM_CONFIGS[name]
    model = ModelLRM(**config).to(device).eval()
    source, render = inference_sizes(model)
    image = torch.rand(1, 3, source, source, device=device)
    camera = canonical_source_camera(batch=1).to(device)
    views = orbit_render_cameras(1).to(device)[None]
    with torch.no_grad():
        planes = model.forward_planes(image, camera)

        def render_view():
            model.synthesizer(planes, views, torch.zeros(1, 1, 2, device=device),
                              torch.full((1, 1, 1), float(render), device=device), torch.ones(1, 1, 1, device=device),
                              render)

        times = {"planes_ms": _time(lambda: model.forward_planes(image, camera), repeats),
                 "render_ms": _time(render_view, repeats),
                 "grid_ms": _time(lambda: model.synthesizer.forward_grid(planes, grid), repeats)}
    parameters = sum(p.numel() for p in model.parameters())
    return {"config": name, "params": f"{parameters / 1e6:.2f} M", "source": f"{source}²",
            "render_size": f"{render}², {config['rendering_samples_per_ray']} spr", **times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,small", help="comma-separated: tiny, small, base, large")
    parser.add_argument("--grid", type=int, default=64, help="mesh grid points per axis (default 64; OpenLRM uses 384)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs after one warm-up (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(name.strip(), args.grid, args.repeats, args.device) for name in args.configs.split(",")]
    print(f"| config | parameters | source | render | planes (ms) | render 1 view (ms) | grid {args.grid}³ (ms) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['config']} | {row['params']} | {row['source']} | {row['render_size']} | {row['planes_ms']:.1f} | "
              f"{row['render_ms']:.1f} | {row['grid_ms']:.1f} |")
    print(f"\nCommand: OMP_NUM_THREADS={args.threads} .venv/bin/python benchmarks/lrm.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}; Python {platform.python_version()}, "
          f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}")


if __name__ == "__main__":
    main()
