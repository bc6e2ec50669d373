"""Turn a head's raw 4-channel map into 3D points and confidence (reference `postprocess`).

Channels 0-2 are xyz and channel 3 the confidence logit.
- depth_mode (mode, vmin, vmax): 'linear' is the identity; 'square' and 'exp' keep the direction
  of xyz and remap its norm d to d² or expm1(d). Bounds must be (-inf, inf), as in the reference.
- conf_mode (mode, vmin, vmax): 'exp' gives vmin + min(exp(x), vmax - vmin); 'sigmoid' gives
  (vmax - vmin)·sigmoid(x) + vmin. `conf_mode=None` means the head predicts no confidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

DEPTH_MODES = ("linear", "square", "exp")
CONF_MODES = ("exp", "sigmoid")

Mode = tuple[str, float, float]


def check_mode(value: Sequence | None, known: tuple[str, ...], field: str, *, allow_none: bool = False) -> Mode | None:
    """Validate and normalise a (mode, vmin, vmax) triple; raises ValueError naming `field`."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ValueError(f"{field} must be a (mode, vmin, vmax) triple, got {value!r}")
    mode, vmin, vmax = value
    if mode not in known:
        raise ValueError(f"{field}: unknown mode {mode!r} (known: {', '.join(known)})")
    try:
        vmin, vmax = float(vmin), float(vmax)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: bounds must be numbers, got {vmin!r}, {vmax!r}") from None
    return (mode, vmin, vmax)


def reg_dense_depth(xyz: torch.Tensor, mode: Mode, dim: int = -1) -> torch.Tensor:
    """xyz with 3 channels along `dim` (default last) → points, same layout, according to `depth_mode`."""
    name, vmin, vmax = mode
    if not (vmin == -math.inf and vmax == math.inf):
        raise ValueError(f"depth_mode bounds must be (-inf, inf) as in the reference, got ({vmin}, {vmax})")
    if name == "linear":
        return xyz
    # sqrt of the sum of squares: the same value as `norm`, but far faster over a non-innermost
    # axis on CPU; the floor only touches norms below 1e-8 (where the reference clips anyway) and
    # keeps the gradient finite at exactly zero.
    d = xyz.square().sum(dim=dim, keepdim=True).clamp_min(1e-16).sqrt()
    direction = xyz / d.clip(min=1e-8)
    if name == "square":
        return direction * d.square()
    if name == "exp":
        return direction * torch.expm1(d)
    raise ValueError(f"unknown depth_mode {name!r}")


def reg_dense_conf(x: torch.Tensor, mode: Mode) -> torch.Tensor:
    """Confidence logits (...) → confidence (...) according to `conf_mode`."""
    name, vmin, vmax = mode
    if name == "exp":
        return vmin + x.exp().clip(max=vmax - vmin)
    if name == "sigmoid":
        return (vmax - vmin) * torch.sigmoid(x) + vmin
    raise ValueError(f"unknown conf_mode {name!r}")


def postprocess(out: torch.Tensor, depth_mode: Mode, conf_mode: Mode | None) -> dict[str, torch.Tensor]:
    """Head output (B, 3 or 4, H, W) → {'pts3d': (B, H, W, 3), 'conf': (B, H, W)}, contiguous."""
    # The maths runs channels-first (contiguous reductions over the channel axis are much faster
    # than over a permuted view); only the results are moved to channels-last.
    pts = reg_dense_depth(out[:, 0:3], depth_mode, dim=1)
    result = {"pts3d": pts.permute(0, 2, 3, 1).contiguous()}
    if conf_mode is not None:
        result["conf"] = reg_dense_conf(out[:, 3], conf_mode)
    return result
