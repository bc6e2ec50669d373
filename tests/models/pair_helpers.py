"""Helpers for the pair-model tests: golden fixture paths, tiny configs, views from npz."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"

TINY_LINEAR = dict(
    enc_embed_dim=32,
    enc_depth=2,
    enc_num_heads=2,
    dec_embed_dim=32,
    dec_depth=2,
    dec_num_heads=2,
    img_size=(32, 48),
    head_type="linear",
    pos_embed="RoPE100",
    depth_mode=("exp", -math.inf, math.inf),
    conf_mode=("exp", 1, math.inf),
)

TINY_DPT = dict(
    TINY_LINEAR,
    head_type="dpt",
    dec_depth=4,
    dec_embed_dim=16,
    dpt_feature_dim=16,
    dpt_layer_dims=(4, 8, 8, 16),
    patch_embed_cls="ManyAR_PatchEmbed",
)


def views_from_npz(path: Path) -> tuple[dict, dict]:
    """The golden `inputs.npz` as the two view dicts the model takes."""
    z = np.load(path)
    views = []
    for name in ("view1", "view2"):
        view = {"img": torch.from_numpy(z[f"{name}_img"]), "true_shape": torch.from_numpy(z[f"{name}_true_shape"])}
        if f"{name}_instance" in z.files:
            view["instance"] = [str(s) for s in z[f"{name}_instance"]]
        views.append(view)
    return views[0], views[1]


def random_views(batch: int = 2, height: int = 32, width: int = 48, seed: int = 0) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(seed)
    img1 = torch.rand(batch, 3, height, width, generator=g) * 2 - 1
    img2 = torch.rand(batch, 3, height, width, generator=g) * 2 - 1
    return {"img": img1}, {"img": img2}
