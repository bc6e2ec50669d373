"""`recon3r convert SRC OUT_DIR`: an official DUSt3R .pth, or a released OpenLRM folder, → model.safetensors + config.json."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="official DUSt3R training checkpoint (.pth, read with a restricted unpickler), "
                        "or a released OpenLRM folder (config.json of ModelLRM kwargs + model.safetensors)")
    parser.add_argument("out_dir", help="folder to write model.safetensors and config.json into (created if needed)")
    parser.add_argument(
        "--keep-training-layout",
        action="store_true",
        help="keep the checkpoint's constructor string verbatim (e.g. ManyAR_PatchEmbed, landscape_only=True) "
        "instead of the inference layout that `recon3r.load_model` uses for .pth files "
        "(PatchEmbedDust3R, landscape_only=False)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing model.safetensors / config.json")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from recon3r.errors import Recon3rError
    from recon3r.models.checkpoint import CONFIG_NAME, WEIGHTS_NAME, convert_checkpoint

    out_dir = Path(args.out_dir)
    existing = [out_dir / name for name in (WEIGHTS_NAME, CONFIG_NAME) if (out_dir / name).exists()]
    if existing and not args.force:
        raise Recon3rError(f"{existing[0]} already exists; pass --force to overwrite")
    model = convert_checkpoint(args.checkpoint, out_dir, keep_training_layout=args.keep_training_layout)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out_dir / WEIGHTS_NAME} and {out_dir / CONFIG_NAME} ({type(model).__name__}, {n_params:,} parameters)")
    return 0
