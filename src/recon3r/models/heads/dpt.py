"""The DPT pointmap head of DUSt3R (reference `PixelwiseTaskWithDPT` with `DPTOutputAdapter_fix`).

Wiring, with D the decoder depth, f = `feature_dim` and [l1..l4] = `layer_dims`:
- hooks [0, D·2//4, D·3//4, D] into the decoder token list (index 0 = encoder output);
  token dims [enc, dec, dec, dec]; tokens (B, h·w, C) → maps (B, C, h, w) on the patch grid;
- `act_postprocess[i]`: 1×1 conv to l_i, then ConvTranspose k4 s4 / ConvTranspose k2 s2 /
  nothing / 3×3 conv stride 2 (maps at 4×, 2×, 1×, ½× the patch grid);
- `scratch.layer{i}_rn`: 3×3 conv to f, no bias (also reachable as `scratch.layer_rn[i-1]`, the
  same modules: official checkpoints store both names);
- four fusion blocks from coarse to fine; `refinenet4`'s output is cropped to the third map's size
  (odd token grids);
- head: conv3×3 f→f/2, bilinear ×2 (align_corners=True), conv3×3 f/2→f/2, ReLU, conv1×1 →
  3 (+1 conf) channels at full image resolution.
The reference hard-codes f = 256 and layer_dims = [96, 192, 384, 768]; they are arguments here.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from recon3r.models.heads.postprocess import Mode, postprocess

#: State-dict names that alias one tensor: `...scratch.layer{N+1}_rn.weight` == `...scratch.layer_rn.{N}.weight`.
_ALIAS_NAMED = re.compile(r"^(?P<prefix>.*\.scratch\.)layer(?P<n>[1-4])_rn\.weight$")
_ALIAS_INDEXED = re.compile(r"^(?P<prefix>.*\.scratch\.)layer_rn\.(?P<i>[0-3])\.weight$")


def dpt_alias(name: str) -> str | None:
    """The other official name of a DPT `layer_rn` weight, or None for any other name."""
    match = _ALIAS_NAMED.match(name)
    if match:
        return f"{match['prefix']}layer_rn.{int(match['n']) - 1}.weight"
    match = _ALIAS_INDEXED.match(name)
    if match:
        return f"{match['prefix']}layer{int(match['i']) + 1}_rn.weight"
    return None


def is_secondary_dpt_alias(name: str) -> bool:
    """True for the `layer_rn.{i}.weight` spelling (the one dropped when saving without duplicates)."""
    return _ALIAS_INDEXED.match(name) is not None


class Interpolate(nn.Module):
    """Bilinear resize by a scale factor (no parameters)."""

    def __init__(self, scale_factor: float, mode: str = "bilinear", align_corners: bool = True):
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners)


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))), ReLU before each conv."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(x))  # x is the skip: not in place
        out = self.conv2(F.relu(out, inplace=True))
        return out + x


class FeatureFusionBlock(nn.Module):
    """Fuse a coarser path with a skip map, refine, upsample ×2 (align_corners=True), 1×1 conv."""

    def __init__(self, features: int):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, kernel_size=1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class _Scratch(nn.Module):
    def __init__(self, layer_dims: list[int], feature_dim: int):
        super().__init__()
        self.layer1_rn = nn.Conv2d(layer_dims[0], feature_dim, kernel_size=3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(layer_dims[1], feature_dim, kernel_size=3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(layer_dims[2], feature_dim, kernel_size=3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(layer_dims[3], feature_dim, kernel_size=3, padding=1, bias=False)
        # The same four modules again under the reference's second name.
        self.layer_rn = nn.ModuleList([self.layer1_rn, self.layer2_rn, self.layer3_rn, self.layer4_rn])
        self.refinenet1 = FeatureFusionBlock(feature_dim)
        self.refinenet2 = FeatureFusionBlock(feature_dim)
        self.refinenet3 = FeatureFusionBlock(feature_dim)
        self.refinenet4 = FeatureFusionBlock(feature_dim)


class DPTAdapter(nn.Module):
    """Token lists → dense map (B, num_channels, H, W). Submodule names match the official `dpt`."""

    def __init__(
        self,
        hooks: list[int],
        dim_tokens: list[int],
        num_channels: int,
        patch_size: int = 16,
        feature_dim: int = 256,
        layer_dims: list[int] | tuple[int, ...] = (96, 192, 384, 768),
    ):
        super().__init__()
        layer_dims = [int(d) for d in layer_dims]
        if len(layer_dims) != 4 or len(hooks) != 4 or len(dim_tokens) != 4:
            raise ValueError("DPT needs four hooks, four token dims and four layer dims")
        self.hooks = list(hooks)
        self.patch_size = patch_size
        self.scratch = _Scratch(layer_dims, feature_dim)
        last_dim = feature_dim // 2
        self.head = nn.Sequential(
            nn.Conv2d(feature_dim, feature_dim // 2, kernel_size=3, padding=1),
            Interpolate(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(feature_dim // 2, last_dim, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),  # on a fresh full-resolution map: no 100 MB copy per view
            nn.Conv2d(last_dim, num_channels, kernel_size=1),
        )
        ld = layer_dims
        self.act_postprocess = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(dim_tokens[0], ld[0], 1), nn.ConvTranspose2d(ld[0], ld[0], kernel_size=4, stride=4)),
                nn.Sequential(nn.Conv2d(dim_tokens[1], ld[1], 1), nn.ConvTranspose2d(ld[1], ld[1], kernel_size=2, stride=2)),
                nn.Sequential(nn.Conv2d(dim_tokens[2], ld[2], 1)),
                nn.Sequential(nn.Conv2d(dim_tokens[3], ld[3], 1), nn.Conv2d(ld[3], ld[3], kernel_size=3, stride=2, padding=1)),
            ]
        )

    def forward(self, tokens: list[torch.Tensor], image_size: tuple[int, int]) -> torch.Tensor:
        H, W = image_size
        rows, cols = H // self.patch_size, W // self.patch_size
        maps = []
        for idx, hook in enumerate(self.hooks):
            x = tokens[hook]
            x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], rows, cols)
            maps.append(self.scratch.layer_rn[idx](self.act_postprocess[idx](x)))
        s = self.scratch
        path = s.refinenet4(maps[3])[:, :, : maps[2].shape[2], : maps[2].shape[3]]
        path = s.refinenet3(path, maps[2])
        path = s.refinenet2(path, maps[1])
        path = s.refinenet1(path, maps[0])
        return self.head(path)


class PixelwiseTaskWithDPT(nn.Module):
    """DPT pointmap head: `forward(tokens_list, (H, W))` → {'pts3d', 'conf'} like `LinearPts3d`."""

    def __init__(
        self,
        *,
        dec_depth: int,
        enc_embed_dim: int,
        dec_embed_dim: int,
        depth_mode: Mode,
        conf_mode: Mode | None,
        patch_size: int = 16,
        feature_dim: int = 256,
        layer_dims: list[int] | tuple[int, ...] = (96, 192, 384, 768),
    ):
        super().__init__()
        self.depth_mode = depth_mode
        self.conf_mode = conf_mode
        D = dec_depth
        self.dpt = DPTAdapter(
            hooks=[0, D * 2 // 4, D * 3 // 4, D],
            dim_tokens=[enc_embed_dim, dec_embed_dim, dec_embed_dim, dec_embed_dim],
            num_channels=3 + (conf_mode is not None),
            patch_size=patch_size,
            feature_dim=feature_dim,
            layer_dims=layer_dims,
        )

    def forward(self, tokens: list[torch.Tensor], image_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        return postprocess(self.dpt(tokens, image_size), self.depth_mode, self.conf_mode)
