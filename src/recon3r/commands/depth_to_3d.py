"""`recon3r depth-to-3d DEPTH --out OUT.ply`: a monocular depth map → shift- and focal-corrected 3D points."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("depth", help="depth map known up to scale and shift: .npy (H×W float) or single-channel "
                        "16-bit PNG; 0 marks missing pixels (depth, not disparity)")
    parser.add_argument("--out", required=True, help="coloured point cloud to write (binary PLY, camera frame, OpenCV "
                        "axes); an existing file is replaced only with --overwrite")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--image", help="RGB image to colour the points (resized to the depth map if needed); "
                        "default: grey shading by depth")
    parser.add_argument("--focal", type=float, help="starting focal guess in pixels (default: the model's 60° "
                        "horizontal field of view)")
    parser.add_argument("--weights", help="a saved Depth3DModel folder (model.safetensors + config.json); "
                        "default: the shipped model trained on procedural depth maps")


def run(args: argparse.Namespace) -> int:
    import math

    from recon3r.io.output_dir import atomic_write, check_output_file

    out = check_output_file(args.out, inputs=[args.depth, args.image, args.weights], overwrite=args.overwrite,
                            suffixes=(".ply",))
    from recon3r.depth3d.io import depth_file_to_ply

    with atomic_write(out) as temporary:
        result = depth_file_to_ply(args.depth, temporary, image=args.image, focal=args.focal, weights=args.weights)
    width = result.depth.shape[-1]
    fov = math.degrees(2 * math.atan(width / 2 / float(result.focal)))
    print(f"shift: {float(result.shift):+.4g} (depth units; {float(result.relative_shift):+.3f} × median depth)")
    print(f"focal: {float(result.focal):.1f} px (guess {float(result.focal_guess):.1f} px × "
          f"{float(result.focal_scale):.3f}; horizontal FOV {fov:.1f}°)")
    print(f"wrote {args.out} ({int(result.valid.sum()):,} points)")
    return 0
