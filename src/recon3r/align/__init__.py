"""Global alignment: turn pair predictions into one scene of cameras, depth maps and points.

- `global_align(predictions, images, ...)`: the entry point; returns a `recon3r.scene.Scene`.
- Two-view mode (`pair_viewer`): PnP on one pair prediction, no optimisation.
- N-view dense mode (`optimizer`): spanning-tree initialisation (`init`) then gradient descent on
  depth maps, focals, poses and pairwise similarities, with known cameras held fixed (`known`).
- N-view fast mode (`sparse`): the same initialisation, then a Levenberg–Marquardt solve of every
  camera's pose and depth scale and every pair's similarity on a confident-pixel subsample; the
  default on the CPU from 12 images on (`choose_mode`).
"""

from recon3r.align.aligner import FAST_MIN_IMAGES, MODES, choose_mode, global_align
from recon3r.align.graph import PairGraph, build_pair_graph, confidence_weights
from recon3r.align.init import Initialization, initialize, spanning_tree, spanning_tree_points
from recon3r.align.known import KnownCameras, parse_known_cameras
from recon3r.align.optimizer import SceneOptimizer, learning_rate, run_optimization
from recon3r.align.pair_viewer import PairView, pair_view
from recon3r.align.pnp import PnPResult, solve_pnp, solve_pnp_unknown_focal
from recon3r.align.sparse import SparseAlignment, fuse_depths, select_pixels, sparse_align

__all__ = [
    "FAST_MIN_IMAGES",
    "MODES",
    "Initialization",
    "KnownCameras",
    "PairGraph",
    "PairView",
    "PnPResult",
    "SceneOptimizer",
    "SparseAlignment",
    "build_pair_graph",
    "choose_mode",
    "confidence_weights",
    "fuse_depths",
    "global_align",
    "initialize",
    "learning_rate",
    "pair_view",
    "parse_known_cameras",
    "run_optimization",
    "select_pixels",
    "solve_pnp",
    "solve_pnp_unknown_focal",
    "spanning_tree",
    "spanning_tree_points",
    "sparse_align",
]
