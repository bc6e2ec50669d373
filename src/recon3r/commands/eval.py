"""`recon3r eval`: run methods over a benchmark set, print one Markdown table, write JSON.

Every flag is a field of `recon3r.eval.run.EvalConfig` (how learned methods run: its `MethodSettings`
part); the command runs `recon3r.eval.run.run_eval`. Point3R's evaluation flags are accepted too
(`recon3r.seeds.apply_point3r_eval`).
"""

from __future__ import annotations

import argparse

#: Which tasks each system's checkpoints do (`recon3r.eval.methods.SYSTEM_METHODS`; tests keep the two equal).
SYSTEM_TASKS = {
    "pair (DUSt3R-style, multimodal)": ("relpose", "mv_recon", "depth", "video_depth", "trajectory"),
    "streaming (Point3R)": ("relpose", "trajectory", "video_depth", "depth", "mv_recon"),
    "single-image (LRM)": ("novel_view",),
    "depth-to-3D": ("depth_to_3d",),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recon3r.eval.run import EvalConfig
    from recon3r.seeds import add_seed_eval_arguments
    from recon3r.utils.config_cli import add_config_arguments

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
    add_config_arguments(parser, EvalConfig)
    add_seed_eval_arguments(parser)  # Point3R's eval/<task>/launch.py flags (docs/from-the-seeds.md)


def run(args: argparse.Namespace) -> int:
    import sys

    from recon3r.eval.report import format_table
    from recon3r.eval.run import EvalConfig, run_eval
    from recon3r.seeds import apply_point3r_eval
    from recon3r.utils.config_cli import config_from_args

    apply_point3r_eval(args, args.task or args.task_arg)
    done = run_eval(config_from_args(EvalConfig, args))
    print(format_table(done.result))
    if done.out is not None:
        print(f"\nwrote {done.out}")
    if done.predictions_dir is not None:
        print(f"wrote predictions to {done.predictions_dir}")
    # A checkpoint that cannot predict a single scene is a setup problem, not a score: exit 2 (a classical
    # baseline failing, e.g. COLMAP registering nothing, stays a measured outcome).
    for method in done.failed:
        first = next((s.error for s in method.scenes if s.error), "no error recorded")
        print(f"error: method {method.method!r} failed on every scene ({first})", file=sys.stderr)
    return 2 if done.failed else 0
