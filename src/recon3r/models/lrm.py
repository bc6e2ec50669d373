"""A small single-image reconstruction model after LRM (Hong et al., ICLR 2024).

Top-down:
1. `encode`: a ViT with 2D RoPE (the pair model's `PatchEmbedDust3R` + `Block`s) → image tokens;
2. `decode`: learned triplane tokens (3 planes × T × T) self-attend and cross-attend to the image
   tokens (`DecoderBlock`s without RoPE: the learned tokens carry their own position). Camera
   conditioning: a small MLP embeds the source camera's normalised intrinsics
   (fx / W, fy / H, cx / W, cy / H) and the embedding is added to every triplane token before the
   decoder (a simpler stand-in for LRM's adaLN modulation);
3. `to_planes`: a transposed convolution upsamples each plane's T × T tokens to (C, R, R) with
   R = T · `upsample`: the triplane (`recon3r.lrm.triplane` convention);
4. `query`: features sampled from the planes go through the NeRF MLP → density (softplus) and
   RGB (sigmoid in [0, 1]); `render` volume-renders rays with `recon3r.lrm.render`.

The model's world frame is the normalised object frame of `recon3r.lrm.data`: the object in
[-1, 1]^3, the source camera at about (0, 0, −`source_distance`) looking along +z with its own axes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from recon3r.errors import ConfigError
from recon3r.lrm.render import RenderOutput, render_rays
from recon3r.lrm.triplane import sample_triplane
from recon3r.models.layers.blocks import Block, DecoderBlock, init_transformer_weights, layer_norm
from recon3r.models.layers.patch_embed import PatchEmbedDust3R
from recon3r.models.layers.rope import RoPE2D
from recon3r.models.registry import config_from_kwargs, register_model


@dataclass
class LRMConfig:
    """Constructor arguments of `LRM` (all JSON-serialisable).

    img_size: square input side in pixels; triplane_tokens: T tokens per plane side; upsample: the
    transposed-conv factor (plane resolution R = T · upsample); plane_channels: C;
    source_distance: distance of the source camera to the object centre in the normalised frame.
    """

    img_size: int = 32
    patch_size: int = 8
    enc_embed_dim: int = 64
    enc_depth: int = 2
    enc_num_heads: int = 2
    dec_embed_dim: int = 64
    dec_depth: int = 2
    dec_num_heads: int = 2
    mlp_ratio: float = 2.0
    triplane_tokens: int = 4
    upsample: int = 4
    plane_channels: int = 16
    nerf_hidden: int = 32
    nerf_depth: int = 2
    density_bias: float = -1.0
    source_distance: float = 2.2
    rope_base: float = 100.0

    def __post_init__(self) -> None:
        if self.img_size % self.patch_size:
            raise ConfigError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.enc_embed_dim % self.enc_num_heads or (self.enc_embed_dim // self.enc_num_heads) % 4:
            raise ConfigError(f"enc_embed_dim {self.enc_embed_dim} / enc_num_heads {self.enc_num_heads} must give "
                              "a head dimension that is a multiple of 4 (2D RoPE)")
        if self.dec_embed_dim % self.dec_num_heads:
            raise ConfigError(f"dec_embed_dim {self.dec_embed_dim} is not divisible by dec_num_heads {self.dec_num_heads}")
        if self.source_distance <= 1.0:
            raise ConfigError(f"source_distance must be > 1 (outside the [-1, 1]^3 box), got {self.source_distance}")

    @property
    def plane_resolution(self) -> int:
        return self.triplane_tokens * self.upsample


# ------------------------------------------------------------------------------------------ model
@register_model
class LRM(nn.Module):
    """Image → triplane → radiance field. Keyword arguments are the fields of `LRMConfig`.

    `forward(image, camera)`: image (B, 3, S, S) in [-1, 1], camera (B, 4) normalised source
    intrinsics (`normalized_intrinsics`) → planes (B, 3, C, R, R).
    """
    task_name = "single_image"
    tiny_config = {"img_size": 16, "enc_embed_dim": 16, "enc_depth": 1, "dec_embed_dim": 16, "dec_depth": 1, "triplane_tokens": 2, "plane_channels": 8, "nerf_hidden": 16}

    def __init__(self, **kwargs: Any):
        super().__init__()
        cfg = config_from_kwargs(LRMConfig, kwargs, 'LRM')
        self.cfg = cfg
        self.config = asdict(cfg)
        self.patch_embed = PatchEmbedDust3R(cfg.img_size, cfg.patch_size, 3, cfg.enc_embed_dim)
        self.rope2d = RoPE2D(cfg.rope_base)
        self.enc_blocks = nn.ModuleList(
            Block(cfg.enc_embed_dim, cfg.enc_num_heads, cfg.mlp_ratio, rope=self.rope2d) for _ in range(cfg.enc_depth))
        self.enc_norm = layer_norm(cfg.enc_embed_dim)
        self.image_proj = nn.Linear(cfg.enc_embed_dim, cfg.dec_embed_dim)
        self.triplane_tokens = nn.Parameter(torch.zeros(1, 3 * cfg.triplane_tokens ** 2, cfg.dec_embed_dim))
        self.camera_embed = nn.Sequential(nn.Linear(4, cfg.dec_embed_dim), nn.SiLU(),
                                          nn.Linear(cfg.dec_embed_dim, cfg.dec_embed_dim))
        self.dec_blocks = nn.ModuleList(
            DecoderBlock(cfg.dec_embed_dim, cfg.dec_num_heads, cfg.mlp_ratio) for _ in range(cfg.dec_depth))
        self.dec_norm = layer_norm(cfg.dec_embed_dim)
        self.upsampler = nn.ConvTranspose2d(cfg.dec_embed_dim, cfg.plane_channels, cfg.upsample, stride=cfg.upsample)
        layers: list[nn.Module] = []
        width = cfg.plane_channels
        for _ in range(cfg.nerf_depth):
            layers += [nn.Linear(width, cfg.nerf_hidden), nn.SiLU()]
            width = cfg.nerf_hidden
        layers.append(nn.Linear(width, 4))
        self.nerf = nn.Sequential(*layers)
        self.apply(init_transformer_weights)
        nn.init.normal_(self.triplane_tokens, std=0.02)

    def forward(self, image: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        return self.to_planes(self.decode(self.encode(image), camera))

    # -- stages ----------------------------------------------------------------------------------
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] → image tokens (B, (S/p)², enc_dim)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be (B, 3, H, W), got {tuple(image.shape)}")
        x, pos = self.patch_embed(image)
        table = self.rope2d.table(pos, self.cfg.enc_embed_dim // self.cfg.enc_num_heads)
        for block in self.enc_blocks:
            x = block(x, table)
        return self.enc_norm(x)

    def decode(self, image_tokens: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        """Image tokens (B, N, enc_dim), camera (B, 4) → triplane tokens (B, 3·T², dec_dim)."""
        B = image_tokens.shape[0]
        memory = self.image_proj(image_tokens)
        x = self.triplane_tokens.expand(B, -1, -1) + self.camera_embed(camera.to(memory.dtype))[:, None]
        for block in self.dec_blocks:
            x = block(x, memory)
        return self.dec_norm(x)

    def to_planes(self, tokens: torch.Tensor) -> torch.Tensor:
        """Triplane tokens (B, 3·T², D) → planes (B, 3, C, R, R)."""
        B, _, D = tokens.shape
        T = self.cfg.triplane_tokens
        grid = tokens.reshape(B * 3, T, T, D).permute(0, 3, 1, 2)  # rows = plane's second axis
        planes = self.upsampler(grid)
        R = planes.shape[-1]
        return planes.reshape(B, 3, self.cfg.plane_channels, R, R)

    def query(self, planes: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Points (B, M, 3) in [-1, 1]^3 → density (B, M) ≥ 0 and RGB (B, M, 3) in [0, 1]."""
        raw = self.nerf(sample_triplane(planes, points))
        sigma = nn.functional.softplus(raw[..., 0] + self.cfg.density_bias)
        return sigma, torch.sigmoid(raw[..., 1:])

    def render(self, planes: torch.Tensor, origins: torch.Tensor, directions: torch.Tensor, samples: int = 32,
               perturb: bool = False, background: float = 1.0) -> RenderOutput:
        """Volume-render rays (B, N, 3) (model frame) through the planes' field; RGB in [0, 1]."""
        return render_rays(lambda p: self.query(planes, p), origins, directions, samples, perturb, background)


# ------------------------------------------------------------------------------------- helpers
def normalized_intrinsics(intrinsics: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(B, 3, 3) pixel intrinsics → (B, 4) camera code (fx / W, fy / H, cx / W, cy / H)."""
    return torch.stack((intrinsics[:, 0, 0] / width, intrinsics[:, 1, 1] / height,
                        intrinsics[:, 0, 2] / width, intrinsics[:, 1, 2] / height), dim=-1)


# ------------------------------------------------------------------------------------- variants
#: Named configurations: `LRM(**LRM_CONFIGS[name])`.
LRM_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": {},  # 32 px, 2+2 blocks of width 64, 16×16×16 planes: trains on one CPU core in minutes
    "test": {"img_size": 16, "enc_embed_dim": 16, "enc_depth": 1, "dec_embed_dim": 16, "dec_depth": 1,
             "triplane_tokens": 2, "plane_channels": 8, "nerf_hidden": 16},
    # The paper's sizes (ViT-B encoder, 16 decoder layers of width 1024, 32×32 tokens → 64×64×80
    # planes, 10-layer MLP of width 64); build it on the `meta` device to inspect.
    "base": {"img_size": 512, "patch_size": 16, "enc_embed_dim": 768, "enc_depth": 12, "enc_num_heads": 12,
             "dec_embed_dim": 1024, "dec_depth": 16, "dec_num_heads": 16, "mlp_ratio": 4.0, "triplane_tokens": 32,
             "upsample": 2, "plane_channels": 80, "nerf_hidden": 64, "nerf_depth": 9},
}


def build_lrm(variant: str = "tiny", **overrides: Any) -> LRM:
    """`LRM` from a named configuration (`LRM_CONFIGS`) with field overrides."""
    if variant not in LRM_CONFIGS:
        raise ConfigError(f"unknown LRM variant {variant!r} (known: {', '.join(LRM_CONFIGS)})")
    return LRM(**{**LRM_CONFIGS[variant], **overrides})
