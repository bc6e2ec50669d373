"""`recon3r depth-to-3d DEPTH --out OUT`: monocular depth maps → shift- and focal-corrected 3D points.

DEPTH is one depth (or `--disparity`) file, `.npy`, 16-bit `.png`, `.exr` or `.pfm` (see
`recon3r.depth3d.io`), or a folder of them. A file gives OUT.ply and OUT.json (the recovered shift
and focal); a folder gives OUT/<name>.ply per map and OUT/recovery.json listing every map's numbers.
Every flag is a field of `recon3r.depth3d.DepthTo3DConfig`; the command runs `recon3r.depth3d.depth_to_3d`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recon3r.depth3d.pipeline import DepthTo3DConfig
    from recon3r.utils.config_cli import add_config_arguments

    add_config_arguments(parser, DepthTo3DConfig)


def run(args: argparse.Namespace) -> int:
    from recon3r.depth3d.pipeline import DepthTo3DConfig, depth_to_3d, format_depth_to_3d_summary
    from recon3r.utils.config_cli import config_from_args

    print(format_depth_to_3d_summary(depth_to_3d(config_from_args(DepthTo3DConfig, args))))
    return 0
