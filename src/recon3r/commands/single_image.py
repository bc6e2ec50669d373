"""`recon3r single-image IMAGE|FOLDER --weights DIR --out DIR` (or `--prompt TEXT --text-to-image DIR`): → 3D.

An OpenLRM-compatible `ModelLRM` (a released OpenLRM folder, or a recon3r one) turns each image
into a triplane, a mesh (PLY, GLB, vertex colours) and a turntable (MP4, GIF). With `--prompt`, a
local diffusers pipeline makes the image first. MIRA's `test.py` flags work as aliases:
`--checkpoint_path`, `--config_path`, `--mode text|image`, `--input`, `--output_path`,
`--export_video`, `--export_mesh` (giving either export flag limits the outputs to those). OpenLRM's
launcher form works too: `--infer CONFIG` (its inference YAML) and `key=value` words (`model_name=DIR`,
`image_input=IMG`, `export_video=true`, ...; see `recon3r.seeds.apply_openlrm_launch`).
Every flag is a field of `recon3r.lrm.pipeline.SingleImageConfig`; the command runs
`recon3r.lrm.pipeline.single_image`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recon3r.lrm.pipeline import SingleImageConfig
    from recon3r.utils.config_cli import add_config_arguments

    add_config_arguments(parser, SingleImageConfig)


def run(args: argparse.Namespace) -> int:
    from recon3r.lrm.pipeline import SingleImageConfig, single_image
    from recon3r.utils.config_cli import config_from_args

    single_image(config_from_args(SingleImageConfig, args), report=print)
    return 0
