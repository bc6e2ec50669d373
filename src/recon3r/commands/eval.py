"""`recon3r eval`: run methods over a benchmark set, print one Markdown table, write JSON."""

from __future__ import annotations

import argparse

TASKS = ("relpose", "mv_recon", "depth", "video_depth", "trajectory", "novel_view", "depth_to_3d")

#: Which tasks each system's checkpoints do (`recon3r.eval.methods.SYSTEM_METHODS`; tests keep the two equal).
SYSTEM_TASKS = {
    "pair (DUSt3R-style, multimodal)": ("relpose", "mv_recon", "depth", "video_depth", "trajectory"),
    "streaming (Point3R)": ("relpose", "trajectory", "video_depth", "depth", "mv_recon"),
    "single-image (LRM)": ("novel_view",),
    "depth-to-3D": ("depth_to_3d",),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    systems = "; ".join(f"{system}: {', '.join(tasks)}" for system, tasks in SYSTEM_TASKS.items())
    parser.description = (
        "Evaluate methods on a benchmark set and print one Markdown table (methods as rows; each task's trivial "
        "baseline rows are added unless --no-baselines). Tasks: relpose (RRA/RTA@τ, mAA@30 over all image pairs; "
        "baseline COLMAP), mv_recon (Acc/Comp/NC of world points), depth (per-frame AbsRel, δ<1.25), video_depth "
        "(per-sequence scale, and scale&shift), trajectory (ATE, RPE; baseline constant-velocity), novel_view (PSNR, "
        "SSIM, mask IoU, Chamfer on held-out rendered objects; baseline mean-colour), depth_to_3d (shift, focal and "
        "point errors of recovered depth maps; baselines no-correction and fov-60); the depth tasks' baseline is "
        "constant-plane. A checkpoint runs on the tasks of its system: " + systems + ". Streaming models are fed "
        "the frames in order (no global alignment; depth: each frame alone), with per-frame latency and peak memory "
        "in the JSON."
    )
    parser.add_argument("task_arg", nargs="?", choices=TASKS, metavar="TASK", help="the task (or --task)")
    parser.add_argument("--task", choices=TASKS, default=None, help=f"the task: {', '.join(TASKS)}")
    parser.add_argument("--benchmark", default=None, metavar="SET",
                        help="procedural:N[:views=V,kind=K,size=S,seed=S] (held-out procedural data with exact GT: "
                        "scenes; objects for novel_view; single depth maps for depth_to_3d, kind=object for "
                        "object-centric maps), a folder in the recon3r multi-view format, a rendered-objects folder "
                        "(recon3r data make-objects; novel_view), a Train-3D depths/ + intrinsics/ folder (recon3r "
                        "data depth3d; depth_to_3d), or a real set folder "
                        "(../shared/data/middlebury_dino_sparse_ring, ../shared/data/middlebury2003_teddy)")
    parser.add_argument("--method", action="append", default=None, metavar="METHOD",
                        help="repeatable: a checkpoint path (its model's system picks how it runs), 'example' (the "
                        "shipped example pair model), 'depth3d' (the shipped depth-to-3D model), or a baseline: "
                        "'colmap' (pycolmap SfM, relpose), 'constant-plane' (depth 1 everywhere; depth, video_depth, "
                        "mv_recon), 'constant-velocity' (trajectory), 'mean-colour' (novel_view), 'no-correction' "
                        "or 'fov-60' (depth_to_3d)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="do not add the task's baseline rows (COLMAP, constant-plane, constant-velocity, "
                        "mean-colour, no-correction and fov-60)")
    parser.add_argument("--out", default=None, help="write every number (per scene and aggregate) to this JSON file "
                        "(checked before evaluating; an existing file is replaced only with --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file and an earlier --save-predictions folder")
    parser.add_argument("--size", type=int, default=None,
                        help="network size of learned methods (default: the model's training size): 224 or 512 for "
                        "pair models, any long side >= 16 for streaming models; also the default render size of "
                        "procedural sets (else 224)")
    parser.add_argument("--niter", type=int, default=300, help="global alignment iterations (default: 300)")
    parser.add_argument("--graph", default="complete", help="pair graph of learned methods (default: complete)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                        help="precision of learned methods' transformer blocks (bfloat16: about twice as fast on CPUs "
                        "with bf16 support; float16 needs an accelerator; default: float32)")
    parser.add_argument("--align-mode", choices=("auto", "optimize", "fast", "pair"), default="auto",
                        help="global alignment of learned methods: optimize (dense), fast (subsample, second order), "
                        "pair, or auto (fast on the CPU from 12 images; default)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, ... (default: the accelerator if present)")
    parser.add_argument("--depth-align", choices=("none", "median", "scale", "scale&shift"), default=None,
                        help="depth alignment (default: median per frame for depth, scale per sequence for "
                        "video_depth)")
    parser.add_argument("--normals", choices=("grid", "pca"), default="grid",
                        help="mv_recon normals: from each point map's pixel grid, or PCA of 30 neighbours")
    parser.add_argument("--icp", action="store_true", help="mv_recon: refine the Sim(3) fit with ICP")
    parser.add_argument("--max-points", type=int, default=None,
                        help="mv_recon: evaluate every k-th GT-valid pixel so at most this many per scene "
                        "(default: all)")
    parser.add_argument("--max-pointers", type=int, default=None,
                        help="streaming models: pointer-memory cap (default: recon3r stream's, 8192; 0: unbounded)")
    parser.add_argument("--mesh-size", type=int, default=128,
                        help="novel_view: marching-cubes grid of single-image models for the Chamfer distance "
                        "(default 128)")
    parser.add_argument("--focal-guess", choices=("random", "fov60"), default="random",
                        help="depth_to_3d: the focal guess methods are given: off the truth by a random factor in "
                        "[1/1.9, 1.9] (the training distribution; default) or a 60° field of view (what "
                        "`recon3r depth-to-3d` assumes without --focal)")
    parser.add_argument("--distortion-seed", type=int, default=1,
                        help="depth_to_3d: seed of the per-map shift and focal distortions (default 1)")
    parser.add_argument("--captions", default=None, metavar="JSON",
                        help="learned pair methods: a JSON object mapping image file names to captions, as for "
                        "`recon3r reconstruct --captions` (multimodal models read them; others ignore them)")
    parser.add_argument("--colmap-threads", type=int, default=1, help="COLMAP threads (1: reproducible; default 1)")
    parser.add_argument("--seed", type=int, default=0,
                        help="COLMAP random seed, and the render sampling seed of single-image models (default 0)")
    parser.add_argument("--cache", default=None,
                        help="folder where procedural sets are rendered and reused (default: a temporary folder)")
    parser.add_argument("--save-predictions", default=None, metavar="DIR",
                        help="also write each prediction and the GT on its grid to DIR/<method>/<scene>.npz (a new or "
                        "empty folder; it appears once the evaluation is complete)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    from recon3r.seeds import add_seed_eval_arguments

    add_seed_eval_arguments(parser)  # Point3R's eval/<task>/launch.py flags (docs/from-the-seeds.md)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import sys

    from recon3r.errors import ConfigError
    from recon3r.io.output_dir import atomic_write, check_output_dir, check_output_file
    from recon3r.seeds import apply_point3r_eval

    apply_point3r_eval(args, args.task or args.task_arg)
    if args.benchmark is None:
        raise ConfigError("--benchmark is required: procedural:N[:...], a dataset folder or a real set folder")
    if not args.method:
        raise ConfigError("--method is required (repeatable): a checkpoint path, 'example', or a baseline name")

    # The output paths first, before any model is loaded or scene rendered.
    inputs = [args.benchmark, args.cache, args.captions, *args.method]
    out = None if args.out is None else check_output_file(args.out, inputs=inputs, overwrite=args.overwrite,
                                                          suffixes=(".json",))
    predictions_dir = None if args.save_predictions is None else check_output_dir(
        args.save_predictions, "eval", inputs=inputs, overwrite=args.overwrite, flag="--save-predictions")

    from recon3r.eval.benchmarks import load_benchmark
    from recon3r.eval.methods import MethodSettings, check_method, default_baselines, resolve_method
    from recon3r.eval.report import format_table, write_json
    from recon3r.eval.tasks import evaluate

    if args.task and args.task_arg and args.task != args.task_arg:
        raise ConfigError(f"two different tasks given: {args.task_arg!r} and --task {args.task!r}")
    task = args.task or args.task_arg
    if task is None:
        raise ConfigError(f"no task given; pass --task with one of {', '.join(TASKS)}")
    if args.niter < 0:
        raise ConfigError(f"--niter must be >= 0, got {args.niter}")
    from recon3r.models.precision import check_dtype_for_device, parse_dtype
    from recon3r.utils.device import resolve_device

    check_dtype_for_device(parse_dtype(args.dtype), resolve_device(args.device))
    if args.captions is not None:
        from recon3r.text.captions import load_captions_file

        load_captions_file(args.captions)  # a broken file fails here, in one line, before any scene
    settings = MethodSettings(size=args.size, niter=args.niter, device=args.device, graph=args.graph,
                              max_pointers=args.max_pointers, mesh_size=args.mesh_size,
                              colmap_threads=args.colmap_threads, seed=args.seed, dtype=args.dtype,
                              align_mode=args.align_mode, captions=args.captions)
    methods = [resolve_method(spec, settings) for spec in args.method]
    names = [m.name for m in methods]
    for k, method in enumerate(methods):  # two checkpoints with the same folder name: tell them apart
        if names.count(method.name) > 1:
            method.name = f"{method.name} ({args.method[k]})"
    for method in methods:
        check_method(method, task)  # before any loading: a checkpoint of the wrong system is one line
    for method in methods:
        if callable(getattr(method, "load", None)):
            method.load()  # a broken checkpoint fails here, in one line, not as a row of failed scenes
    if not args.no_baselines:
        taken = {m.name for m in methods}
        methods += [b for b in default_baselines(task) if b.name not in taken]
    benchmark = load_benchmark(args.benchmark, task, size=args.size, cache_dir=args.cache)
    try:
        with predictions_dir.staged() if predictions_dir else contextlib.nullcontext() as staging:
            saver = _prediction_saver(staging) if staging else None
            result = evaluate(task, benchmark, methods, depth_align=args.depth_align, normals=args.normals,
                              icp=args.icp, max_points=args.max_points, on_prediction=saver,
                              progress=not args.quiet, focal_guess=args.focal_guess,
                              distortion_seed=args.distortion_seed)
    finally:
        benchmark.close()
    print(format_table(result))
    if out is not None:
        with atomic_write(out) as temporary:
            write_json(result, temporary)
        print(f"\nwrote {out}")
    if predictions_dir is not None:
        print(f"wrote predictions to {predictions_dir.path}")
    # A checkpoint that cannot predict a single scene is a setup problem, not a score: exit 2 (a classical
    # baseline failing, e.g. COLMAP registering nothing, stays a measured outcome).
    failed = [m for m in result.methods
              if m.settings.get("type") == "learned" and m.scenes and all(s.error for s in m.scenes)]
    for method in failed:
        first = next((s.error for s in method.scenes if s.error), "no error recorded")
        print(f"error: method {method.method!r} failed on every scene ({first})", file=sys.stderr)
    return 2 if failed else 0


def _prediction_saver(folder: str):
    """A callback writing DIR/<method>/<scene>.npz: the prediction's arrays, and the GT on its grid."""
    import re
    from pathlib import Path

    import numpy as np

    from recon3r.eval.tasks import gt_depth_on_grid

    def save(method, scene, prediction) -> None:
        def safe(name: str) -> str:
            return re.sub(r"[^\w.+-]+", "_", name)

        out = Path(folder) / safe(method.name)
        out.mkdir(parents=True, exist_ok=True)
        arrays = {}
        if prediction.world_from_cam is not None:
            arrays["world_from_cam"] = prediction.world_from_cam
        if getattr(scene, "world_from_cam", None) is not None:
            arrays["gt_world_from_cam"] = scene.world_from_cam
        for key, prefix in (("depths", "depth"), ("points", "points"), ("renders", "render"),
                            ("render_masks", "render_mask")):
            for v, value in enumerate(getattr(prediction, key) or []):
                if value is not None:
                    arrays[f"{prefix}_{v:03d}"] = value
        if prediction.surface is not None:
            arrays["surface"] = prediction.surface
        if prediction.transforms is not None and hasattr(scene, "has_depth"):
            for v in range(len(scene)):
                if scene.has_depth(v):
                    gt, valid = gt_depth_on_grid(scene.depths[v], prediction.transforms[v])
                    arrays[f"gt_depth_{v:03d}"], arrays[f"gt_valid_{v:03d}"] = gt, valid
        if hasattr(scene, "distorted"):  # depth_to_3d: the map given to the method, and the truth
            arrays["input_depth"], arrays["gt_depth"] = scene.distorted.depth, scene.view.depth
            arrays.update({k: np.float64(v) for k, v in prediction.info.items() if isinstance(v, float)})
        np.savez(out / f"{safe(scene.name)}.npz", **arrays)

    return save
