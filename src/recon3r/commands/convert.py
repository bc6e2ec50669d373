"""`recon3r convert SRC OUT_DIR`: an official checkpoint (DUSt3R or Point3R .pth, or a released OpenLRM folder) → model.safetensors + config.json."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="official training checkpoint (.pth) of DUSt3R or Point3R (e.g. point3r_512.pth), "
                        "read with a restricted unpickler, or a released OpenLRM folder (config.json of ModelLRM "
                        "kwargs + model.safetensors)")
    parser.add_argument("out_dir", help="folder to write model.safetensors and config.json into: new or empty, or an "
                        "earlier conversion's with --overwrite (not the checkpoint's own folder)")
    parser.add_argument(
        "--keep-training-layout",
        action="store_true",
        help="keep the checkpoint's constructor string verbatim (e.g. ManyAR_PatchEmbed, landscape_only=True) "
        "instead of the inference layout that `recon3r.load_model` uses for .pth files "
        "(PatchEmbedDust3R, landscape_only=False)",
    )
    parser.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                        help="replace a folder an earlier `recon3r convert` wrote (kept until the new one is complete)")
    parser.add_argument("--model", default=None,
                        help="constructor string to use instead of the checkpoint's own, e.g. \"Point3R(Point3RConfig("
                        "enc_embed_dim=1024, ...))\" (for checkpoints whose training config is missing)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from recon3r.io.output_dir import check_output_dir
    from recon3r.models.checkpoint import CONFIG_NAME, WEIGHTS_NAME, convert_checkpoint

    def converted_before(folder: Path) -> bool:  # a folder an earlier convert wrote, before the marker existed
        return {p.name for p in folder.iterdir()} <= {WEIGHTS_NAME, CONFIG_NAME}

    output = check_output_dir(args.out_dir, "convert", inputs=[args.checkpoint], overwrite=args.overwrite,
                              flag="OUT_DIR", legacy=converted_before)
    with output.staged() as staging:
        model = convert_checkpoint(args.checkpoint, staging, keep_training_layout=args.keep_training_layout,
                                   model=args.model)
    n_params = sum(p.numel() for p in model.parameters())
    out_dir = output.path
    print(f"wrote {out_dir / WEIGHTS_NAME} and {out_dir / CONFIG_NAME} ({type(model).__name__}, {n_params:,} parameters)")
    return 0
