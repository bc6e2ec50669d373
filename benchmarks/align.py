"""Global alignment on oracle predictions: time, peak memory and pose error; prints a Markdown table.

Each case renders an analytic scene (`recon3r.align.synthetic`) seen by N cameras on a ring at
224×224, makes oracle pair predictions for the case's pair graph (true points in camera i's frame,
a random scale per pair, 1 % depth noise, 3 % low-confidence outliers), and runs
`recon3r.align.global_align` (spanning-tree initialisation + the dense optimisation, `optimize`, or
the fast subsample solve, `fast`). Every case runs in its own process, so the peak resident memory
it reports belongs to that case alone.

    .venv/bin/python benchmarks/align.py                                   # the default cases
    .venv/bin/python benchmarks/align.py --cases 10:complete:300 --modes optimize,fast --threads 2
    .venv/bin/python benchmarks/align.py --cases 4:complete:300 --baseline-src /path/to/older/src
    .venv/bin/python benchmarks/align.py --device cuda                     # on an accelerator

A case is `N:graph:niter`; the graph is any of `recon3r.pairs` (complete, swin-K, logwin-K, ...);
`niter` is the dense mode's step count (the fast mode stops when its cost stops falling). With
`--baseline-src DIR` every dense case also runs with the `recon3r` package found in DIR (an older
checkout's `src`), in its own process, and the table gains that row and the per-step speed-up.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import queue as queue_module
import resource
import shlex
import sys
import time

from _machine import cpu_name  # benchmarks/_machine.py (scripts run from benchmarks/)

DEFAULT_CASES = "10:complete:300,20:complete:300,50:swin-5:300"
DEFAULT_MODES = "optimize,fast"


def _rss_mib() -> float:
    """Current resident memory of this process (Linux /proc), MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_case(
    num_images: int, graph: str, niter: int, size: int, device: str, threads: int, seed: int, mode: str = "optimize",
    src: str | None = None,
) -> dict:
    if src:
        sys.path.insert(0, src)  # before the first recon3r import of this (fresh) process
    import numpy as np
    import torch

    from recon3r.align import global_align
    from recon3r.align.synthetic import make_scene, oracle_predictions
    from recon3r.eval.metrics import relative_pose_errors, relpose_metrics
    from recon3r.pairs import pair_indices

    torch.set_num_threads(threads)
    truth = make_scene(num_images, size, size, arc_degrees=360.0, seed=seed)
    pairs = pair_indices(num_images, graph)
    preds = oracle_predictions(truth, pairs, noise=0.01, outliers=0.03, seed=seed + 1)
    accelerator = torch.device(device).type != "cpu"
    if accelerator:
        getattr(torch, torch.device(device).type).reset_peak_memory_stats()
    rss_before = _rss_mib()
    start = time.perf_counter()
    scene = global_align(preds, truth.images, mode=mode, niter=niter, device=device, progress=False)
    total = time.perf_counter() - start
    peak = _peak_rss_mib()
    info = scene.metadata["alignment"]
    metrics = relpose_metrics(scene.world_from_cam, truth.world_from_cam)
    rot, trans = relative_pose_errors(scene.world_from_cam, truth.world_from_cam.numpy())
    focal_error = np.abs(scene.intrinsics[:, 0, 0] / truth.intrinsics[:, 0, 0].numpy() - 1) * 100
    import recon3r

    out = {
        "mode": mode + (" (baseline)" if src else ""),
        "source": os.path.dirname(os.path.dirname(recon3r.__file__)),
        "N": num_images,
        "graph": graph,
        "pairs": len(pairs),
        "niter": info["iterations"],
        "init_s": info["time_init_s"],
        "optimize_s": info["time_optimize_s"],
        "total_s": total,
        "iter_ms": 1000 * info["time_optimize_s"] / max(info["iterations"], 1),
        "rss_inputs_mib": rss_before,
        "rss_peak_mib": peak,
        "rra5": metrics["RRA@5"],
        "rta5": metrics["RTA@5"],
        "rot_mean": float(np.mean(rot)),
        "trans_mean": float(np.mean(trans)),
        "focal_median": float(np.median(focal_error)),
        "loss": info["final_loss"],
    }
    if accelerator:
        out["device_peak_mib"] = getattr(torch, torch.device(device).type).max_memory_allocated() / 2**20
    return out


def _child(queue, *args) -> None:
    try:
        queue.put(run_case(*args))
    except BaseException as exc:  # report, never hang the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated N:graph:niter")
    parser.add_argument("--modes", default=DEFAULT_MODES, help="comma-separated alignment modes run on every case "
                        "(optimize = dense, fast)")
    parser.add_argument("--baseline-src", default=None, metavar="DIR",
                        help="also run every dense case with the recon3r package in DIR (e.g. an older checkout's src)")
    parser.add_argument("--size", type=int, default=224, help="square image side in pixels")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--threads", type=int, default=torch_threads_default(), help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cases = []
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for text in args.cases.split(","):
        n, graph, niter = text.strip().split(":")
        for mode in modes:
            cases.append((int(n), graph, int(niter), mode, None))
            if mode == "optimize" and args.baseline_src:
                cases.append((int(n), graph, int(niter), mode, os.path.abspath(args.baseline_src)))

    ctx = mp.get_context("spawn")
    rows, failed = [], False
    load_before = os.getloadavg()
    for n, graph, niter, mode, src in cases:
        queue = ctx.Queue()
        proc = ctx.Process(
            target=_child, args=(queue, n, graph, niter, args.size, args.device, args.threads, args.seed, mode, src)
        )
        proc.start()
        row = None
        while row is None:
            try:
                row = queue.get(timeout=5)
            except queue_module.Empty:
                if not proc.is_alive():  # killed (e.g. out of memory) before it could report
                    row = {"error": f"the case's process died with exit code {proc.exitcode}"}
        proc.join()
        if "error" in row:
            print(f"case {n}:{graph}:{niter} ({mode}) failed: {row['error']}", file=sys.stderr)
            failed = True
            break
        rows.append(row)
        print(
            f"done {n}:{graph}:{niter} {row['mode']} in {row['total_s']:.1f} s: {row['iter_ms']:.0f} ms/step, "
            f"RRA@5 {row['rra5']:.1f}, RTA@5 {row['rta5']:.1f}, peak RSS {row['rss_peak_mib']:.0f} MiB",
            file=sys.stderr,
        )

    if not rows:
        return 1
    import torch

    accelerator = "device_peak_mib" in rows[0]
    print(f"### Global alignment on oracle predictions ({args.size}×{args.size}, device {args.device})\n")
    memory_head = "device peak (MiB)" if accelerator else "peak RSS (MiB)"
    print(
        f"| N | graph | pairs | mode | steps | init (s) | optimise (s) | total (s) | per step (ms) | {memory_head} "
        "| inputs RSS (MiB) | RRA@5 | RTA@5 | mean rot err (°) | mean trans err (°) | median focal err (%) | final loss "
        "| per-step speed-up vs baseline |"
    )
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        memory = r["device_peak_mib"] if accelerator else r["rss_peak_mib"]
        baseline = [b for b in rows if b["mode"] == "optimize (baseline)" and (b["N"], b["graph"]) == (r["N"], r["graph"])]
        ratio = f"{baseline[0]['iter_ms'] / r['iter_ms']:.2f}×" if baseline and r["mode"] == "optimize" else ""
        print(
            f"| {r['N']} | {r['graph']} | {r['pairs']} | {r['mode']} | {r['niter']} | {r['init_s']:.1f} "
            f"| {r['optimize_s']:.1f} | {r['total_s']:.1f} | {r['iter_ms']:.0f} | {memory:.0f} | {r['rss_inputs_mib']:.0f} "
            f"| {r['rra5']:.1f} | {r['rta5']:.1f} | {r['rot_mean']:.3f} | {r['trans_mean']:.3f} | {r['focal_median']:.2f} "
            f"| {r['loss']:.4f} | {ratio} |"
        )
    if args.baseline_src:
        print(f"\nBaseline: the recon3r package in `{os.path.abspath(args.baseline_src)}`.")
    print(f"\nLoad average before / after: {', '.join(f'{v:.2f}' for v in load_before)} / "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}.")
    cpu = cpu_name()
    print(
        f"\nMachine: {platform.machine()}, {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, torch {torch.__version__}, "
        f"{args.threads} torch thread(s)."
    )
    print(f"\nCommand: `{shlex.join([os.path.basename(sys.executable), *sys.argv])}`")
    return 1 if failed else 0


def torch_threads_default() -> int:
    return max(1, min(os.cpu_count() or 1, 2))



if __name__ == "__main__":
    raise SystemExit(main())
