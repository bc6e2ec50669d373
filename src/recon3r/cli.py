"""The `recon3r` command line: a thin dispatcher over one module per subcommand.

Each subcommand lives in `recon3r.commands.<name>` and defines
`add_arguments(parser)` and `run(args) -> int`. Command modules import only
argparse at top level and load heavy code inside `run`, so `recon3r --help`
stays fast while every subcommand's `--help` is complete.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Keep sorted by name.
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("recon3r.commands.convert", "convert an official DUSt3R .pth checkpoint or a released OpenLRM folder to safetensors + config.json"),
    "data": ("recon3r.commands.data", "make datasets: procedural scenes (recon3r multi-view format) or rendered objects (MIRA's layout)"),
    "demo": ("recon3r.commands.demo", "serve the web demo (gradio) on 127.0.0.1: upload photos, see and download the 3D scene"),
    "depth-to-3d": ("recon3r.commands.depth_to_3d", "depth map (.npy / 16-bit PNG) → 3D points: recover its depth shift and focal (LeReS-style), write a PLY"),
    "eval": ("recon3r.commands.eval", "evaluate models and baselines on a benchmark set: one Markdown table, JSON"),
    "reconstruct": ("recon3r.commands.reconstruct", "reconstruct a scene from photos: poses, intrinsics, depth, points, exports"),
    "single-image": ("recon3r.commands.single_image", "one image, a folder or a text prompt → triplane, mesh (PLY, GLB) and turntable (MP4, GIF) with an OpenLRM-compatible model"),
    "stream": ("recon3r.commands.stream", "online (streaming) reconstruction with a Point3R-style pointer-memory model: PLY + npz"),
    "train": ("recon3r.commands.train", "train a pair model (one process, or many under torchrun)"),
}


def build_parser() -> argparse.ArgumentParser:
    from recon3r import __version__

    parser = argparse.ArgumentParser(prog="recon3r", description="Learned 3D reconstruction from images.")
    parser.add_argument("--version", action="version", version=f"recon3r {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        from recon3r.errors import Recon3rError

        # User-facing errors already name the file/field: show them without a traceback.
        if isinstance(err, Recon3rError):
            print(f"error: {err}", file=sys.stderr)
            return 2
        raise
