"""`recon3r convert SRC OUT_DIR`: an official checkpoint (DUSt3R or Point3R .pth, or a released OpenLRM folder) → model.safetensors + config.json.

Every flag is a field of `recon3r.models.checkpoint.ConvertConfig`; the command runs `run_convert`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recon3r.models.checkpoint import ConvertConfig
    from recon3r.utils.config_cli import add_config_arguments

    add_config_arguments(parser, ConvertConfig)


def run(args: argparse.Namespace) -> int:
    from recon3r.models.checkpoint import CONFIG_NAME, WEIGHTS_NAME, ConvertConfig, run_convert
    from recon3r.utils.config_cli import config_from_args

    model, out_dir = run_convert(config_from_args(ConvertConfig, args))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out_dir / WEIGHTS_NAME} and {out_dir / CONFIG_NAME} ({type(model).__name__}, {n_params:,} parameters)")
    return 0
