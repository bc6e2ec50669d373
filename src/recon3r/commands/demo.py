"""`recon3r demo`: serve the web demo (gradio) on this machine; loopback only unless --local-network.

The flags of DUSt3R's `demo.py` and the multimodal model's `demo_exif.py` work as written
(`--weights`, `--image_size`, `--local_network`, `--server_name`, `--server_port`, `--tmp_dir`,
`--device`, `--silent`); `--share` and `--model_name` are refused with the reason, because recon3r
makes no outside connections. Underscore spellings come from the CLI's alias mechanism (`recon3r.cli`).
"""

from __future__ import annotations

import argparse

DEFAULT_MAX_IMAGES = 32
DEFAULT_MAX_ITERATIONS = 1000
DEFAULT_MAX_IMAGE_ITERATIONS = 3000
DEFAULT_MAX_RESULTS_MB = 500.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None,
             help="checkpoint: official .pth, or a folder with model.safetensors + config.json (default: the "
                  "shipped example model)")
    parser.add_argument("--model-name", default=None, metavar="NAME",
             help="refused: DUSt3R's demo downloads named weights; download the .pth yourself and pass --weights")
    parser.add_argument("--image-size", type=int, choices=(224, 512), default=None,
             help="network image size (default: the model's training size)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--local-network", action="store_true",
             help="listen on all interfaces (0.0.0.0) so other machines of the network can connect; "
                  "default: 127.0.0.1 only")
    where.add_argument("--server-name", default=None, metavar="HOST",
             help="listen on this address instead (default: 127.0.0.1)")
    parser.add_argument("--port", "--server-port", type=int, default=None,
             help="TCP port (default: gradio's, 7860 or the next free one)")
    parser.add_argument("--share", action="store_true",
             help="refused: a share link relays the demo through gradio's servers on the internet")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: the accelerator if present)")
    parser.add_argument("--max-images", type=int, default=DEFAULT_MAX_IMAGES,
             help=f"most images per run (default: {DEFAULT_MAX_IMAGES})")
    parser.add_argument("--max-iterations", type=int, default=DEFAULT_MAX_ITERATIONS,
             help=f"most alignment iterations per run (default: {DEFAULT_MAX_ITERATIONS})")
    parser.add_argument("--max-image-iterations", type=int, default=DEFAULT_MAX_IMAGE_ITERATIONS,
             help="most images × alignment iterations per run; two images need no iterations (default: "
                  f"{DEFAULT_MAX_IMAGE_ITERATIONS}, e.g. 10 images × 300 iterations)")
    parser.add_argument("--max-file-mb", type=float, default=20.0, help="largest upload per file in MB (default: 20)")
    parser.add_argument("--max-results-mb", type=float, default=DEFAULT_MAX_RESULTS_MB,
             help="results kept on disk in MB; the oldest runs' files are deleted beyond it (default: "
                  f"{DEFAULT_MAX_RESULTS_MB:g})")
    parser.add_argument("--workdir", "--tmp-dir", default=None,
             help="where this session's temporary folder (uploads, results) is made; it is deleted when the demo "
                  "stops, also on SIGINT and SIGTERM (default: the system temporary folder)")
    parser.add_argument("--silent", action="store_true", help="print less (gradio's startup messages)")


def launch_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of `recon3r.demo.launch` for parsed flags (checked here, at the boundary)."""
    from recon3r.demo.backend import DemoSettings
    from recon3r.errors import ConfigError

    if args.share:
        raise ConfigError("--share is refused: a share link relays the demo through gradio's servers on the "
                          "internet, and recon3r makes no outside connections; use --local-network (or "
                          "--server-name ADDRESS) to serve the machines of your network")
    if args.model_name:
        raise ConfigError(f"--model_name {args.model_name} would download weights from the internet, which recon3r "
                          f"never does; download {args.model_name}.pth yourself and pass --weights PATH "
                          "(or no --weights for the shipped example model)")
    if args.port is not None and not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    if args.server_name is not None and not args.server_name.strip():
        raise ConfigError("--server-name is empty; give an address such as 127.0.0.1 or 0.0.0.0")
    settings = DemoSettings(image_size=args.image_size, device=args.device, max_images=args.max_images,
                            max_file_mb=args.max_file_mb, max_iterations=args.max_iterations,
                            max_image_iterations=args.max_image_iterations, max_results_mb=args.max_results_mb)
    settings.check()
    return dict(weights=args.weights, settings=settings, workdir=args.workdir, local_network=args.local_network,
                server_name=args.server_name, port=args.port, quiet=args.silent)


def run(args: argparse.Namespace) -> int:
    from recon3r.demo import launch

    launch(**launch_options(args))
    return 0
