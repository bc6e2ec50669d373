"""Pointmap heads (linear, DPT), their post-processing and the landscape/portrait wrapper."""

from recon3r.models.heads.dpt import PixelwiseTaskWithDPT, dpt_alias, is_secondary_dpt_alias
from recon3r.models.heads.landscape import apply_head
from recon3r.models.heads.linear import LinearPts3d
from recon3r.models.heads.postprocess import (
    CONF_MODES,
    DEPTH_MODES,
    postprocess,
    reg_dense_conf,
    reg_dense_depth,
)

__all__ = [
    "CONF_MODES",
    "DEPTH_MODES",
    "LinearPts3d",
    "PixelwiseTaskWithDPT",
    "apply_head",
    "dpt_alias",
    "is_secondary_dpt_alias",
    "postprocess",
    "reg_dense_conf",
    "reg_dense_depth",
]
