"""`recon3r stream FRAMES... --weights CKPT --out DIR`: online reconstruction with Point3R.

Every flag is a field of `recon3r.stream.StreamConfig`; the command runs `recon3r.stream.run_stream`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recon3r.stream.reconstruct import StreamConfig
    from recon3r.utils.config_cli import add_config_arguments

    add_config_arguments(parser, StreamConfig)


def run(args: argparse.Namespace) -> int:
    from recon3r.stream.reconstruct import StreamConfig, format_stream_summary, run_stream
    from recon3r.utils.config_cli import config_from_args

    print(format_stream_summary(run_stream(config_from_args(StreamConfig, args))))
    return 0
