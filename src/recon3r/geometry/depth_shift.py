"""How an unknown depth shift and a wrong focal length bend a point cloud, and how to undo it.

A monocular network predicts depth only up to an affine map, `d = a·D + b`. The scale `a` cannot be
recovered from one image (it only scales the cloud); the shift `b` and the focal length can, because
the wrong values bend the cloud (planes curve, right angles open or close; LeReS, Yin et al. 2021).
Both are described by the *correction* that recovers the true geometry up to scale:

    true depth ∝ depth + shift,        true focal = focal · focal_scale.

`distort` gives what a recovery method sees from the truth; `apply_correction` undoes it. With the
same `shift` and `focal_scale` they are exact inverses. Depth is z-depth (OpenCV axes), (B, H, W).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _per_image(value: Tensor | float, depth: Tensor, name: str) -> Tensor:
    """A per-image scalar as a (B,) tensor on `depth`'s device and dtype (floats broadcast)."""
    if depth.ndim != 3:
        raise ValueError(f"depth must be a (B, H, W) tensor, got {tuple(depth.shape)}")
    batch = depth.shape[0]
    value = torch.as_tensor(value, device=depth.device, dtype=depth.dtype)
    if value.ndim == 0:
        return value.expand(batch)
    if value.shape != (batch,):
        raise ValueError(f"{name} must be a scalar or shape (B,) = ({batch},), got {tuple(value.shape)}")
    return value


def distort(depth: Tensor, focal: Tensor | float, shift: Tensor | float, focal_scale: Tensor | float
            ) -> tuple[Tensor, Tensor]:
    """What a recovery method sees: (depth − shift (B, H, W), focal / focal_scale (B,)).

    `depth` is the true depth (any positive unit), `focal` the true focal (pixels), `shift` in the
    depth's unit (positive moves the scene towards the camera), `focal_scale` = true / guessed focal.
    Distorted depths may be ≤ 0 when `shift` exceeds the nearest depth.
    """
    shift, focal_scale = _per_image(shift, depth, "shift"), _per_image(focal_scale, depth, "focal_scale")
    return depth - shift[:, None, None], _per_image(focal, depth, "focal") / focal_scale


def apply_correction(depth: Tensor, focal: Tensor | float, shift: Tensor | float, focal_scale: Tensor | float
                     ) -> tuple[Tensor, Tensor]:
    """Undo `distort`: (depth + shift, focal · focal_scale). Shapes and units as in `distort`."""
    shift, focal_scale = _per_image(shift, depth, "shift"), _per_image(focal_scale, depth, "focal_scale")
    return depth + shift[:, None, None], _per_image(focal, depth, "focal") * focal_scale
