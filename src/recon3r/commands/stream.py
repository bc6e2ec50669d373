"""`recon3r stream FRAMES... --weights CKPT --out DIR`: online reconstruction with Point3R."""

from __future__ import annotations

import argparse

NO_WEIGHTS = (
    "no streaming model given and none is shipped: pass --weights with the released Point3R checkpoint "
    "(point3r_512.pth), a folder made from it by `recon3r convert`, or any saved Point3R folder "
    "(model.safetensors + config.json)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("frames", nargs="+",
                        help="a video file, a folder of frames (sorted by file name), or image files in stream order")
    parser.add_argument("--weights", default=None,
                        help="Point3R checkpoint: the official .pth (e.g. point3r_512.pth) or a model.safetensors + "
                        "config.json folder")
    parser.add_argument("--model", default=None,
                        help="constructor string for a .pth that names no model, e.g. \"Point3R(Point3RConfig(...))\" "
                        "(default for a Point3R state dict without one: the released 512 configuration)")
    parser.add_argument("--out", required=True,
                        help="output folder: points.ply, sparse/0 (COLMAP), transforms.json, scene.npz, depth/*.npy, "
                        "memory.npz, stream.json")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier `recon3r stream` result")
    parser.add_argument("--size", type=int, default=None,
                        help="long side frames are resized to (default: the model's training size, 224 or 512)")
    parser.add_argument("--max-pointers", type=int, default=None,
                        help="cap on the pointer memory (default 8192, so the work per frame stays constant; 0: the "
                        "official unbounded memory)")
    parser.add_argument("--every", type=int, default=1, help="keep one frame in EVERY (default: all)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--min-conf", type=float, default=1.0, help="keep points with confidence >= this in exports")
    parser.add_argument("--formats", default="ply,colmap,nerfstudio,npz",
                        help="comma-separated scene exports among ply, glb, colmap, nerfstudio, npz "
                        "(default: ply,colmap,nerfstudio,npz)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto (default: cpu)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                        help="precision of the transformer blocks: bfloat16 about twice as fast on CPUs with bf16 "
                        "support (weights cast once; norms, heads, memory and poses stay float32); float16 needs an "
                        "accelerator (default: float32)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from recon3r.errors import CheckpointError, ConfigError
    from recon3r.io.exports import check_formats
    from recon3r.io.output_dir import check_output_dir
    from recon3r.models.checkpoint import load_model
    from recon3r.stream.reconstruct import DEFAULT_MAX_POINTERS, export_stream, reconstruct_stream
    from recon3r.utils.checks import check_float

    if args.weights is None:
        raise CheckpointError(NO_WEIGHTS)
    if args.max_pointers is not None and args.max_pointers < 0:
        raise ConfigError(f"--max-pointers must be >= 0 (0: unbounded), got {args.max_pointers}")
    check_float("--min-conf", args.min_conf)
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    check_formats(formats)
    output = check_output_dir(args.out, "stream", inputs=[*args.frames, args.weights], overwrite=args.overwrite)
    max_pointers = DEFAULT_MAX_POINTERS if args.max_pointers is None else (args.max_pointers or None)
    model = load_model(args.weights, device=args.device, expect="Point3R", model=args.model, dtype=args.dtype)
    frames = args.frames[0] if len(args.frames) == 1 else args.frames
    result = reconstruct_stream(frames, model, size=args.size, max_pointers=max_pointers, every=args.every,
                                max_frames=args.max_frames, show_progress=not args.quiet)
    with output.staged() as staging:  # a temporary sibling of --out, moved into place once complete
        written = export_stream(result, staging, formats, min_conf=args.min_conf)
    written = {key: output.relocate(path, staging) for key, path in written.items()}
    cap = "unbounded" if max_pointers is None else f"cap {max_pointers}"
    print(f"{len(result.names)} frames, {result.frames_per_second:.1f} frames/s "
          f"({1000 * float(result.seconds_per_frame.mean()):.1f} ms/frame), memory {result.pointer_counts[0]} → "
          f"{result.pointer_counts[-1]} pointers ({cap})")
    print("wrote " + ", ".join(str(p) for p in written.values()))
    return 0
