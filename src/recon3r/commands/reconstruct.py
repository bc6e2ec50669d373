"""`recon3r reconstruct`: photos in; poses, intrinsics, depth maps and a point cloud out."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recon3r.reconstruct import ReconstructConfig
    from recon3r.utils.config_cli import add_config_arguments

    add_config_arguments(parser, ReconstructConfig)


def run(args: argparse.Namespace) -> int:
    import sys

    from recon3r.reconstruct import ReconstructConfig, format_summary, reconstruct
    from recon3r.utils.config_cli import config_from_args

    result = reconstruct(config_from_args(ReconstructConfig, args))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(format_summary(result))
    return 0
