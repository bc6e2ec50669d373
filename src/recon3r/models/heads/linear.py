"""The linear pointmap head: one Linear per token, then pixel-shuffle back to full resolution."""

from __future__ import annotations

import torch
from torch import nn

from recon3r.models.heads.postprocess import Mode, postprocess


class LinearPts3d(nn.Module):
    """Linear(dec_dim → (3 + has_conf)·p²) on the last decoder tokens.

    Output channel c of pixel (dy, dx) inside a patch is feature c·p² + dy·p + dx.
    `forward(tokens_list, (H, W))` uses only `tokens_list[-1]` (B, H/p·W/p, dec_dim) and returns
    {'pts3d': (B, H, W, 3), 'conf': (B, H, W)}.
    """

    def __init__(self, dec_embed_dim: int, patch_size: int, depth_mode: Mode, conf_mode: Mode | None):
        super().__init__()
        self.patch_size = patch_size
        self.depth_mode = depth_mode
        self.conf_mode = conf_mode
        self.proj = nn.Linear(dec_embed_dim, (3 + (conf_mode is not None)) * patch_size**2)

    def forward(self, tokens: list[torch.Tensor], image_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        H, W = image_size
        p = self.patch_size
        x = tokens[-1]
        B, N, _ = x.shape
        if N != (H // p) * (W // p):
            raise ValueError(f"{N} tokens do not tile a {H}x{W} image with {p}x{p} patches")
        # Equivalent to transpose → (B, C·p², H/p, W/p) → pixel_shuffle(p), in a single copy.
        feat = self.proj(x).reshape(B, H // p, W // p, -1, p, p)
        feat = feat.permute(0, 3, 1, 4, 2, 5).reshape(B, -1, H, W)
        return postprocess(feat, self.depth_mode, self.conf_mode)
