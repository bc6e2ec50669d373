"""`recon3r reconstruct`: photos in; poses, intrinsics, depth maps and a point cloud out."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="image files and/or folders of images (two or more images)")
    parser.add_argument("--weights", default=None, help="checkpoint: official .pth, or a folder with model.safetensors + "
                        "config.json (default: the shipped example model)")
    parser.add_argument("--out", required=True,
                        help="output folder: new or empty, or an earlier reconstruction's with --overwrite; never an "
                        "input folder or one holding inputs. Results appear there only once complete")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an output folder an earlier `recon3r reconstruct` wrote (it is kept until the new "
                        "results are complete)")
    parser.add_argument("--size", type=int, choices=(224, 512), default=None,
                        help="network image size (default: the model's training size)")
    parser.add_argument("--graph", default="complete",
                        help="pair graph: complete, swin-K, swin-K-noncyclic, logwin-K, oneref-I (default: complete)")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per forward pass (default: 8)")
    parser.add_argument("--niter", type=int, default=300, help="global alignment iterations (default: 300)")
    parser.add_argument("--lr", type=float, default=0.01, help="global alignment learning rate (default: 0.01)")
    parser.add_argument("--schedule", choices=("cosine", "linear"), default="cosine", help="learning-rate schedule")
    parser.add_argument("--min-conf", default=None, metavar="CONF|auto",
                        help="keep points with confidence >= CONF; 'auto' (the default) uses min(3, the scene's median "
                        "confidence), which suits any model's confidence scale")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: the accelerator if present)")
    parser.add_argument("--intrinsics", default=None,
                        help="JSON of known intrinsics at the original resolution, held fixed (see recon3r.io.camera_files)")
    parser.add_argument("--poses", default=None, help="JSON of known cam-to-world poses (OpenCV axes), held fixed")
    parser.add_argument("--captions", default=None, help="JSON mapping image names to captions (multimodal models)")
    parser.add_argument("--no-exif", dest="exif", action="store_false",
                        help="do not read captions from EXIF when an image has none in --captions")
    parser.add_argument("--formats", default="ply,glb,colmap,nerfstudio,npz",
                        help="comma-separated exports (default: ply,glb,colmap,nerfstudio,npz)")
    parser.add_argument("--glb", choices=("points", "mesh"), default="points", help="GLB geometry (default: points)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import sys

    from recon3r.reconstruct import ReconstructConfig, format_summary, reconstruct

    defaults = {} if args.min_conf is None else {"min_conf": args.min_conf}  # else ReconstructConfig's default
    config = ReconstructConfig(
        images=args.images, out=args.out, weights=args.weights, size=args.size, graph=args.graph,
        batch_size=args.batch_size, niter=args.niter, lr=args.lr, schedule=args.schedule,
        device=args.device, intrinsics=args.intrinsics, poses=args.poses, captions=args.captions, exif=args.exif,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()), glb_geometry=args.glb,
        progress=not args.quiet, overwrite=args.overwrite, **defaults,
    )
    result = reconstruct(config)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(format_summary(result))
    return 0
