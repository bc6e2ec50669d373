"""`recon3r single-image IMAGE --weights DIR --out DIR`: one image → mesh and turntable (LRM-style)."""

from __future__ import annotations

import argparse

NO_WEIGHTS = (
    "no single-image model given and none is shipped: pass --weights DIR (a folder holding an LRM "
    "model.safetensors + config.json). Train a tiny one on procedural object orbits in a few minutes on a CPU with "
    "`python benchmarks/lrm.py --save-weights DIR`, or in Python with "
    "`recon3r.lrm.train_lrm(recon3r.lrm.LRMTrainConfig(steps=3000, out_dir=DIR))`"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="an image of one object, centred on a white background")
    parser.add_argument("--weights", default=None, help="folder with an LRM model.safetensors + config.json")
    parser.add_argument("--out", required=True, help="output folder: mesh.glb, mesh.ply, turntable.gif, frames/")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier `recon3r single-image` result")
    parser.add_argument("--resolution", type=int, default=64, help="density grid points per axis for marching cubes")
    parser.add_argument("--threshold", type=float, default=1.0,
                        help="density (per unit length of the [-1, 1]^3 box) of the extracted surface")
    parser.add_argument("--frames", type=int, default=24, help="turntable frames")
    parser.add_argument("--frame-size", type=int, default=None, help="turntable image side (default: model input size)")
    parser.add_argument("--fov", type=float, default=50.0, help="assumed horizontal field of view of the image, degrees")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def run(args: argparse.Namespace) -> int:
    from recon3r.errors import CheckpointError
    from recon3r.io.output_dir import check_output_dir
    from recon3r.lrm.mesh import export_mesh
    from recon3r.lrm.reconstruct import load_square_image, reconstruct_single
    from recon3r.lrm.turntable import save_frames
    from recon3r.models.checkpoint import load_model
    from recon3r.utils.checks import check_single_image_options

    if args.weights is None:
        raise CheckpointError(NO_WEIGHTS)
    check_single_image_options(args)  # numbers in range, image readable and large enough, output folder usable
    output = check_output_dir(args.out, "single-image", inputs=[args.image, args.weights], overwrite=args.overwrite)
    model = load_model(args.weights, device=args.device, expect="LRM")
    load_square_image(args.image, 8)  # fail early, naming the file, before any work
    result = reconstruct_single(args.image, model, fov_deg=args.fov, resolution=args.resolution,
                                threshold=args.threshold, frames=args.frames, frame_size=args.frame_size)
    out = output.begin()  # a temporary sibling of --out, moved into place once complete
    written = []
    if result.mesh is None:
        print(f"warning: no density above --threshold {args.threshold}; no mesh written")
    else:
        written += [export_mesh(result.mesh, out / "mesh.glb"), export_mesh(result.mesh, out / "mesh.ply")]
        print(f"mesh: {len(result.mesh.vertices)} vertices, {len(result.mesh.faces)} faces")
    gif = save_frames(result.frames, out / "frames", gif_name="turntable.gif")
    final_gif = out / "turntable.gif"
    gif.replace(final_gif)
    written.append(final_gif)
    out = output.commit(out)
    written = [out / p.name for p in written]
    print(f"{result.seconds:.2f} s; wrote {', '.join(str(p) for p in written)} and {len(result.frames)} PNG frames "
          f"in {out / 'frames'}")
    return 0
