"""`recon3r stream IMAGES... --weights DIR --out DIR`: online reconstruction with the streaming model."""

from __future__ import annotations

import argparse

NO_WEIGHTS = (
    "no streaming model given and none is shipped: pass --weights DIR (a folder holding a Point3R "
    "model.safetensors + config.json). Train a tiny one on procedural sequences in a few minutes on a CPU with "
    "`python benchmarks/stream.py --save-weights DIR`, or in Python with "
    "`recon3r.stream.train_stream(recon3r.stream.StreamTrainConfig(steps=1000, out_dir=DIR))`"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="image files in stream order, or a folder (sorted by file name)")
    parser.add_argument("--weights", default=None, help="folder with a Point3R model.safetensors + config.json")
    parser.add_argument("--out", required=True, help="output folder: points.ply, scene.npz, memory.json")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier `recon3r stream` result")
    parser.add_argument("--size", type=int, default=None,
                        help="long side images are resized to (default: the model's training size)")
    parser.add_argument("--min-conf", type=float, default=1.0, help="keep points with confidence >= this in the PLY")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto")


def run(args: argparse.Namespace) -> int:
    import json

    from recon3r.errors import CheckpointError
    from recon3r.io.exports.npz import export_npz
    from recon3r.io.exports.ply import export_ply
    from recon3r.io.output_dir import check_output_dir
    from recon3r.models.checkpoint import load_model
    from recon3r.stream.reconstruct import reconstruct_stream
    from recon3r.utils.checks import check_float

    if args.weights is None:
        raise CheckpointError(NO_WEIGHTS)
    check_float("--min-conf", args.min_conf)
    output = check_output_dir(args.out, "stream", inputs=[*args.images, args.weights], overwrite=args.overwrite)
    model = load_model(args.weights, device=args.device, expect="Point3R")
    images = args.images[0] if len(args.images) == 1 else args.images
    result = reconstruct_stream(images, model, size=args.size)
    out = output.begin()  # a temporary sibling of --out, moved into place once complete
    scene = result.to_scene(min_conf=args.min_conf)
    ply = export_ply(scene, out / "points.ply")
    npz = export_npz(scene, out / "scene.npz")
    sizes = [int(s) for s in result.memory_sizes]
    (out / "memory.json").write_text(json.dumps({"names": result.names, "memory_sizes": sizes,
                                                 "seconds_per_frame": result.seconds_per_frame.tolist()}, indent=1))
    out = output.commit(out)
    ply, npz = out / ply.name, out / npz.name
    per_frame = 1000 * float(result.seconds_per_frame.mean())
    print(f"{len(result.names)} frames, {per_frame:.1f} ms/frame, memory {sizes[0]} → {sizes[-1]} pointers")
    print(f"wrote {ply}, {npz}, {out / 'memory.json'}")
    return 0
