"""`recon3r depth-to-3d DEPTH --out OUT`: monocular depth maps → shift- and focal-corrected 3D points.

DEPTH is one depth (or `--disparity`) file, `.npy`, 16-bit `.png`, `.exr` or `.pfm` (see
`recon3r.depth3d.io`), or a folder of them. A file gives OUT.ply and OUT.json (the recovered shift
and focal); a folder gives OUT/<name>.ply per map and OUT/recovery.json listing every map's numbers.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("depth", help="depth map known up to scale and shift (.npy H×W, single-channel 16-bit .png, "
                        ".exr, .pfm; 0, NaN or inf mark missing pixels), or a folder of them")
    parser.add_argument("--out", required=True, help="for a file: the coloured point cloud to write (binary PLY, "
                        "camera frame, OpenCV axes) and the recovered shift and focal beside it (same name, .json); "
                        "for a folder: a new output folder (one PLY per map, recovery.json). Existing outputs are "
                        "replaced only with --overwrite")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--image", help="RGB image to colour the points (resized to the depth map if needed), or, "
                        "with a folder of maps, a folder of images matched by file name; default: grey shading by depth")
    parser.add_argument("--disparity", action="store_true",
                        help="the maps hold disparity (inverse depth, as MiDaS-style networks output): depth = 1 / value")
    parser.add_argument("--focal", type=float, help="starting focal guess in pixels (default: the model's 60° "
                        "horizontal field of view)")
    parser.add_argument("--weights", help="a saved Depth3DModel folder (model.safetensors + config.json); "
                        "default: the shipped model trained on procedural scenes and objects")
    parser.add_argument("--quiet", action="store_true", help="no progress bar for folders")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    depth = Path(args.depth)
    if depth.is_dir():
        return _run_folder(args, depth)
    return _run_file(args, depth)


def _model(args: argparse.Namespace):
    from recon3r.depth3d.recover import load_default_model, load_depth3d_model

    return load_depth3d_model(args.weights) if args.weights is not None else load_default_model()


def _run_file(args: argparse.Namespace, depth) -> int:
    from recon3r.depth3d.io import DepthJob, recover_depth_file, write_summary
    from recon3r.io.output_dir import atomic_write, check_output_file

    inputs = [args.depth, args.image, args.weights]
    out = check_output_file(args.out, inputs=inputs, overwrite=args.overwrite, suffixes=(".ply",))
    sidecar = check_output_file(out.with_suffix(".json"), inputs=inputs, overwrite=args.overwrite,
                                flag="--out (its .json)")
    model = _model(args)
    with atomic_write(out) as temporary:
        summary = recover_depth_file(DepthJob(depth, temporary, args.image), model, focal=args.focal,
                                     disparity=args.disparity)
    summary["depth"] = str(depth)
    with atomic_write(sidecar) as temporary:
        write_summary(temporary, summary)
    print(f"shift: {summary['shift']:+.4g} (depth units; {summary['relative_shift']:+.3f} × median depth)")
    print(f"focal: {summary['focal_px']:.1f} px (guess {summary['focal_guess_px']:.1f} px × "
          f"{summary['focal_scale']:.3f}; horizontal FOV {summary['horizontal_fov_deg']:.1f}°)")
    print(f"wrote {args.out} ({summary['points']:,} points) and {sidecar.name}")
    return 0


def _run_folder(args: argparse.Namespace, depth) -> int:
    from pathlib import Path

    from recon3r.depth3d.io import depth_jobs, recover_depth_folder, write_summary
    from recon3r.errors import ConfigError
    from recon3r.io.output_dir import check_output_dir
    from recon3r.utils.progress import progress

    if args.image is not None and not Path(args.image).is_dir():
        raise ConfigError(f"--image {args.image}: with a folder of depth maps, give a folder of images")
    output = check_output_dir(args.out, "depth-to-3d", inputs=[args.depth, args.image, args.weights],
                              overwrite=args.overwrite)
    model = _model(args)
    image_dir = Path(args.image) if args.image is not None else None
    with output.staged() as staging:
        jobs = depth_jobs(depth, staging, image_dir)
        bar = iter(progress(range(len(jobs)), desc="depth maps", total=len(jobs), enabled=not args.quiet))
        summaries = recover_depth_folder(jobs, model, focal=args.focal, disparity=args.disparity,
                                         on_map=lambda _: next(bar, None))
        next(bar, None)
        for job, summary in zip(jobs, summaries):
            summary["ply"] = job.ply.name
        write_summary(staging / "recovery.json", summaries)
    print(f"wrote {len(jobs)} point clouds and recovery.json (shift and focal of each map) to {output.path}")
    return 0
