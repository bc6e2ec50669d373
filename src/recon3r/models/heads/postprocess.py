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


def reg_dense_depth(xyz: torch.Tensor, mode: Mode) -> torch.Tensor:
    """xyz (..., 3) → points (..., 3) according to `depth_mode`."""
    name, vmin, vmax = mode
    if not (vmin == -math.inf and vmax == math.inf):
        raise ValueError(f"depth_mode bounds must be (-inf, inf) as in the reference, got ({vmin}, {vmax})")
    if name == "linear":
        return xyz
    d = xyz.norm(dim=-1, keepdim=True)
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
    """Head output (B, 3 or 4, H, W) → {'pts3d': (B, H, W, 3), 'conf': (B, H, W)}."""
    fmap = out.permute(0, 2, 3, 1)
    result = {"pts3d": reg_dense_depth(fmap[..., 0:3], depth_mode)}
    if conf_mode is not None:
        result["conf"] = reg_dense_conf(fmap[..., 3], conf_mode)
    return result
