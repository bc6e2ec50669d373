"""`recon3r demo`: serve the web demo (gradio) on this machine; loopback only unless --local-network."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="checkpoint: official .pth, or a folder with model.safetensors + "
                        "config.json (default: the shipped example model)")
    parser.add_argument("--image-size", type=int, choices=(224, 512), default=None,
                        help="network image size (default: the model's training size)")
    parser.add_argument("--local-network", action="store_true",
                        help="listen on all interfaces (0.0.0.0) so other machines of the network can connect; "
                             "default: 127.0.0.1 only")
    parser.add_argument("--port", type=int, default=None,
                        help="TCP port (default: gradio's, 7860 or the next free one)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: the accelerator if present)")
    parser.add_argument("--max-images", type=int, default=32, help="most images per run (default: 32)")
    parser.add_argument("--max-file-mb", type=float, default=20.0, help="largest upload per file in MB (default: 20)")
    parser.add_argument("--workdir", default=None,
                        help="folder for the per-run output folders (default: a new temporary folder)")


def launch_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of `recon3r.demo.launch` for parsed flags (checked here, at the boundary)."""
    from recon3r.errors import ConfigError

    if args.port is not None and not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_images < 2:
        raise ConfigError(f"--max-images must be 2 or more, got {args.max_images}")
    if not args.max_file_mb > 0:
        raise ConfigError(f"--max-file-mb must be positive, got {args.max_file_mb}")
    return dict(weights=args.weights, image_size=args.image_size, device=args.device,
                local_network=args.local_network, port=args.port, max_images=args.max_images,
                max_file_mb=args.max_file_mb, workdir=args.workdir)


def run(args: argparse.Namespace) -> int:
    from recon3r.demo import launch

    launch(**launch_options(args))
    return 0
