"""Point3R streaming cost against stream length: time and memory per frame for 10, 50 and 200 frames.

Each run streams T frames (a smooth random texture panning a few pixels per frame, like a video)
through `Point3R.step`, one frame at a time, as `recon3r stream` does, with the inference memory cap
(`recon3r.stream.DEFAULT_MAX_POINTERS`; `--max-pointers 0` is the official unbounded memory).
Columns: median model time per frame over the whole stream and over its last 10 frames (constant work
per frame means both stay flat as T grows), pointers after the last frame, the pointer memory's size,
and the process memory: resident set on CPU, peak allocated memory on an accelerator.

Configurations: `tiny` (`Point3R.tiny_config`, 64×48 frames, CPU) always; `official` (the released
512 architecture, 828 M parameters, random weights unless `--weights`, 512×384 frames) when an
accelerator is present or with `--official`. Random weights predict near-constant geometry, so their
memory merges a lot; the cap bounds it whatever the predictions.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stream.py [--frames 10 50 200] [--official] [--weights point3r_512.pth]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch


def panning_frames(count: int, height: int, width: int, step: int, seed: int = 0) -> torch.Tensor:
    """(count, 3, H, W) frames in [-1, 1]: windows of one smooth random texture, `step` pixels apart."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 8 + 1, (width + step * count) // 8 + 2, generator=g)
    texture = torch.nn.functional.interpolate(coarse, size=(height, width + step * count), mode="bicubic",
                                              align_corners=False).clamp(0, 1)[0] * 2 - 1
    return torch.stack([texture[:, :, step * t : step * t + width] for t in range(count)])


def resident_mb() -> float:
    """Current resident set of this process in MB (Linux /proc; nan elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    import resource

    return pages * resource.getpagesize() / 2**20


def run_stream(model, frames: torch.Tensor, device: torch.device, max_pointers: int | None) -> dict:
    if device.type != "cpu":
        torch.accelerator.synchronize(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
    H, W = frames.shape[-2:]
    shape = torch.tensor([[H, W]])
    state, seconds = None, []
    with torch.no_grad():
        for frame in frames:
            view = {"img": frame[None].to(device), "true_shape": shape}
            start = time.perf_counter()
            _, state = model.step(view, state, max_pointers=max_pointers)
            if device.type != "cpu":
                torch.accelerator.synchronize(device)
            seconds.append(time.perf_counter() - start)
    memory = state.memory
    state_mb = sum(t.numel() * t.element_size() for t in (*memory.positions, *memory.features)) / 2**20
    process_mb = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else resident_mb())
    return {"ms": 1000 * statistics.median(seconds), "ms_last": 1000 * statistics.median(seconds[-10:]),
            "pointers": memory.counts[0], "state_mb": state_mb, "process_mb": process_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[10, 50, 200], help="stream lengths (default 10 50 200)")
    parser.add_argument("--max-pointers", type=int, default=None,
                        help="memory cap (default: recon3r.stream.DEFAULT_MAX_POINTERS; 0: unbounded, official)")
    parser.add_argument("--official", action="store_true", help="also run the official size even without an accelerator")
    parser.add_argument("--no-tiny", action="store_true", help="skip the tiny CPU configuration")
    parser.add_argument("--weights", default=None, help="official checkpoint for the official rows (default: random weights)")
    parser.add_argument("--device", default=None, help="device of the official rows (default: the accelerator, else cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from recon3r.models import load_model
    from recon3r.models.point3r import OFFICIAL_CONFIGS, Point3R
    from recon3r.stream import DEFAULT_MAX_POINTERS

    max_pointers = DEFAULT_MAX_POINTERS if args.max_pointers is None else (args.max_pointers or None)
    accelerator = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    runs = []
    if not args.no_tiny:
        torch.manual_seed(0)
        runs.append(("tiny", Point3R(**Point3R.tiny_config).eval(), torch.device("cpu"), (48, 64), 2))
    if accelerator is not None or args.official or args.device:
        device = torch.device(args.device) if args.device else (accelerator or torch.device("cpu"))
        if args.weights:
            model = load_model(args.weights, device=device, expect="Point3R")
        else:
            torch.manual_seed(0)
            with device:
                model = Point3R(**OFFICIAL_CONFIGS["point3r_512_dpt"]).eval()
        runs.append(("official 512 (" + ("released weights" if args.weights else "random weights") + ")",
                     model.to(device), device, (384, 512), 16))

    cap = "unbounded (official)" if max_pointers is None else f"{max_pointers}"
    print(f"Point3R streaming cost per frame against stream length; memory cap: {cap}; {args.threads} CPU thread(s).\n")
    print("| configuration | device | frames | H×W | ms / frame (median) | ms / frame (last 10) | pointers after last "
          "| pointer memory (MB) | process memory (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, model, device, (H, W), step in runs:
        warm = panning_frames(3, H, W, step, seed=1)
        run_stream(model, warm, device, max_pointers)  # allocator and kernel warm-up
        for count in args.frames:
            r = run_stream(model, panning_frames(count, H, W, step), device, max_pointers)
            memory_kind = "peak allocated" if device.type == "cuda" else "resident"
            print(f"| {name} | {device.type} | {count} | {W}×{H} | {r['ms']:.2f} | {r['ms_last']:.2f} | {r['pointers']} "
                  f"| {r['state_mb']:.3f} | {r['process_mb']:.0f} ({memory_kind}) |", flush=True)
    print(f"\nCommand: OMP_NUM_THREADS={args.threads} .venv/bin/python benchmarks/stream.py {' '.join(sys.argv[1:])}".rstrip())
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"Machine: {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}, "
          f"torch {torch.__version__}, accelerator: {gpu}.")


if __name__ == "__main__":
    main()
