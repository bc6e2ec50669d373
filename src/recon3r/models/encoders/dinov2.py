"""DINOv2 vision transformer (Oquab et al., 2023) with register tokens (Darcet et al., 2024).

Parameter names are the official ones (`cls_token`, `pos_embed`, `register_tokens`,
`patch_embed.proj`, `blocks.K.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2,
ls2.gamma}`, `norm`), so torch-hub DINOv2 weights and the encoders inside OpenLRM checkpoints load
unchanged. There is no `mask_token` (OpenLRM removed it; nothing here masks patches).

Forward pass, top-down (`DinoVisionTransformer.forward_features`):
1. conv patch embedding, tokens in row-major order; CLS prepended;
2. the position embedding added, its patch grid resized to the image's by antialiased bicubic
   interpolation (`interpolate_pos_embed`); CLS has its own entry;
3. the register tokens inserted after CLS, without position embedding;
4. pre-norm blocks with LayerScale (`recon3r.models.layers.Block`), then a final LayerNorm.

Named architectures (`DINOV2_ARCHS`) are the torch-hub variants; any other one is described by a
`DinoV2Config` (e.g. the small random encoders of test fixtures).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from recon3r.errors import ConfigError
from recon3r.models.layers.blocks import Block, layer_norm
from recon3r.models.layers.patch_embed import PatchEmbedDust3R


@dataclass(frozen=True)
class DinoV2Config:
    """Architecture of a DINOv2 ViT (the hub factory's keyword arguments).

    img_size: the training size; the position-embedding grid is (img_size / patch_size)² + CLS.
    interpolate_antialias / interpolate_offset: how that grid is resized to other image sizes.
    init_values: LayerScale initial value (0 or None: no LayerScale).
    Only `ffn_layer="mlp"`, `block_chunks=0` and `layer_norm_eps=1e-6` are supported (every
    DINOv2 variant but the SwiGLU giant).
    """

    img_size: int = 518
    patch_size: int = 14
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    interpolate_antialias: bool = True
    interpolate_offset: float = 0.0
    init_values: float | None = 1.0
    ffn_layer: str = "mlp"
    block_chunks: int = 0
    qkv_bias: bool = True
    proj_bias: bool = True
    ffn_bias: bool = True
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.ffn_layer != "mlp":
            raise ConfigError(f"DINOv2 ffn_layer {self.ffn_layer!r} is not supported (only 'mlp')")
        if self.block_chunks != 0:
            raise ConfigError(f"DINOv2 block_chunks must be 0 (block names blocks.K.*), got {self.block_chunks}")
        if self.layer_norm_eps != 1e-6:
            raise ConfigError(f"DINOv2 layer_norm_eps must be 1e-6, got {self.layer_norm_eps}")
        if self.img_size % self.patch_size:
            raise ConfigError(f"DINOv2 img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"DINOv2 embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.num_register_tokens < 0:
            raise ConfigError(f"DINOv2 num_register_tokens must be >= 0, got {self.num_register_tokens}")

    @property
    def grid_size(self) -> int:
        """Side of the position-embedding patch grid (37 for the hub models)."""
        return self.img_size // self.patch_size

    @classmethod
    def from_dict(cls, arch: Mapping[str, Any], what: str = "encoder_arch") -> DinoV2Config:
        """Build from a JSON dict, naming unknown fields in a ConfigError."""
        if not isinstance(arch, Mapping):
            raise ConfigError(f"{what} must be an object of DinoV2Config fields, got {type(arch).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(arch) - set(known))
        if unknown:
            raise ConfigError(f"{what} has unknown field(s) {', '.join(unknown)} (known: {', '.join(known)})")
        return cls(**arch)


def _hub(embed_dim: int, depth: int, num_heads: int, registers: bool) -> DinoV2Config:
    # With registers the hub models use antialiased interpolation without offset; without, the
    # older 0.1 offset and plain bicubic.
    return DinoV2Config(embed_dim=embed_dim, depth=depth, num_heads=num_heads, num_register_tokens=4 if registers else 0,
                        interpolate_antialias=registers, interpolate_offset=0.0 if registers else 0.1)


#: torch-hub DINOv2 variants by name (patch 14, trained at 518 px).
DINOV2_ARCHS: dict[str, DinoV2Config] = {
    "dinov2_vits14": _hub(384, 12, 6, registers=False),
    "dinov2_vitb14": _hub(768, 12, 12, registers=False),
    "dinov2_vitl14": _hub(1024, 24, 16, registers=False),
    "dinov2_vits14_reg": _hub(384, 12, 6, registers=True),
    "dinov2_vitb14_reg": _hub(768, 12, 12, registers=True),
    "dinov2_vitl14_reg": _hub(1024, 24, 16, registers=True),
}


def resolve_dinov2_arch(name: str, arch: Mapping[str, Any] | DinoV2Config | None = None) -> DinoV2Config:
    """The architecture of encoder `name`: `arch` when given (any name), else `DINOV2_ARCHS[name]`."""
    if isinstance(arch, DinoV2Config):
        return arch
    if arch is not None:
        return DinoV2Config.from_dict(arch)
    if name not in DINOV2_ARCHS:
        raise ConfigError(f"unknown DINOv2 encoder {name!r} (known: {', '.join(DINOV2_ARCHS)}); "
                          "pass encoder_arch with its DinoV2Config fields to use another architecture")
    return DINOV2_ARCHS[name]


def interpolate_pos_embed(pos_embed: torch.Tensor, rows: int, cols: int, *, antialias: bool, offset: float
                          ) -> torch.Tensor:
    """Resize a (1, 1 + M², D) position embedding (CLS first) to a rows × cols patch grid.

    The M × M grid is resampled by bicubic interpolation with `scale_factor` ((rows + offset) / M,
    (cols + offset) / M), as the reference does. With `antialias` PyTorch uses Keys a = −0.5 and
    renormalised taps (also when upsampling), not the a = −0.75 of plain bicubic. A grid that
    already matches is returned as is. Computed in float32, returned in the input's dtype.
    """
    grid = math.isqrt(pos_embed.shape[1] - 1)
    if grid * grid != pos_embed.shape[1] - 1:
        raise ValueError(f"pos_embed has {pos_embed.shape[1] - 1} patch entries, not a square grid")
    if rows == cols == grid:
        return pos_embed
    dim = pos_embed.shape[-1]
    table = pos_embed.float()
    patch = table[:, 1:].reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
    scale = ((rows + offset) / grid, (cols + offset) / grid)
    resized = F.interpolate(patch, scale_factor=scale, mode="bicubic", antialias=antialias)
    if resized.shape[-2:] != (rows, cols):  # float round-off in the output size: fall back to the size
        resized = F.interpolate(patch, size=(rows, cols), mode="bicubic", antialias=antialias)
    resized = resized.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)
    return torch.cat((table[:, :1], resized), dim=1).to(pos_embed.dtype)


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT. `forward_features(image)`: image (B, 3, H, W), H and W multiples of the patch.

    Returns a dict: `x_norm_clstoken` (B, D), `x_norm_regtokens` (B, R, D),
    `x_norm_patchtokens` (B, P, D) (row-major), `x_prenorm` (B, 1 + R + P, D) in the order CLS,
    registers, patches, and `pos_embed` (1, 1 + P, D), the interpolated table that was added.
    """

    def __init__(self, config: DinoV2Config):
        super().__init__()
        self.arch = config
        dim = config.embed_dim
        self.patch_embed = PatchEmbedDust3R(config.img_size, config.patch_size, 3, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + config.grid_size ** 2, dim))
        self.register_tokens = (nn.Parameter(torch.zeros(1, config.num_register_tokens, dim))
                                if config.num_register_tokens else None)
        self.blocks = nn.ModuleList(
            Block(dim, config.num_heads, config.mlp_ratio, qkv_bias=config.qkv_bias, init_values=config.init_values,
                  proj_bias=config.proj_bias, ffn_bias=config.ffn_bias)
            for _ in range(config.depth))
        self.norm = layer_norm(dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """DINOv2's initialisation: truncated-normal (0.02) linears and position table, tiny CLS/registers."""
        if self.pos_embed.is_meta:
            return
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.register_tokens is not None:
            nn.init.normal_(self.register_tokens, std=1e-6)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward_features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be (B, 3, H, W), got {tuple(image.shape)}")
        B, _, H, W = image.shape
        patch = self.arch.patch_size
        tokens, _ = self.patch_embed(image)
        x = torch.cat((self.cls_token.expand(B, -1, -1), tokens), dim=1)
        pos_embed = interpolate_pos_embed(self.pos_embed, H // patch, W // patch,
                                          antialias=self.arch.interpolate_antialias,
                                          offset=self.arch.interpolate_offset)
        x = x + pos_embed
        if self.register_tokens is not None:
            x = torch.cat((x[:, :1], self.register_tokens.expand(B, -1, -1), x[:, 1:]), dim=1)
        for block in self.blocks:
            x = block(x)
        x_norm = self.norm(x)
        first_patch = 1 + self.arch.num_register_tokens
        return {"x_norm_clstoken": x_norm[:, 0], "x_norm_regtokens": x_norm[:, 1:first_patch],
                "x_norm_patchtokens": x_norm[:, first_patch:], "x_prenorm": x, "pos_embed": pos_embed}

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_features(image)


class DinoV2Encoder(nn.Module):
    """Image → condition tokens: the normed CLS token followed by the normed patch tokens.

    image (B, 3, H, W) RGB in [0, 1] (no mean/std normalisation, as OpenLRM feeds it) →
    (B, 1 + P, D); register tokens are dropped. The ViT lives in `.model` (official names
    `encoder.model.*` inside OpenLRM). `freeze=True` puts it in eval mode without gradients.
    """

    def __init__(self, config: DinoV2Config, freeze: bool = False):
        super().__init__()
        self.model = DinoVisionTransformer(config)
        self.frozen = False
        self.set_frozen(freeze)

    def set_frozen(self, frozen: bool) -> None:
        """Frozen: eval mode (also while the parent trains) and no gradients; otherwise trainable."""
        self.frozen = bool(frozen)
        self.model.requires_grad_(not self.frozen)
        if self.frozen:
            self.model.eval()

    def train(self, mode: bool = True) -> DinoV2Encoder:
        super().train(mode)
        if self.frozen:
            self.model.eval()
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.model.forward_features(image)
        return torch.cat((features["x_norm_clstoken"][:, None], features["x_norm_patchtokens"]), dim=1)
