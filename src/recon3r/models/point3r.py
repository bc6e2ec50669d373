"""A small streaming reconstruction model with an explicit spatial pointer memory (after Point3R).

Point3R (Wu et al., 2025) reconstructs a stream online. Each frame, top-down:
1. `encode`: a ViT with 2D RoPE (the pair model's `PatchEmbedDust3R` + `Block`s) → patch tokens;
2. `decode`: the tokens self-attend and cross-attend to the memory's pointers, with a 3D RoPE
   (`RoPE3D`) on both sides, so attention depends on where tokens and pointers are in space;
3. `heads`: a linear head gives the frame's points in the world frame (= frame 0's camera frame)
   with confidence, a second one its points in its own camera frame (poses follow by Procrustes);
4. memory update: each token becomes a pointer at the mean of its patch's predicted world points,
   its feature a projection of its decoded token; pointers within `merge_ratio · scale` of an
   existing one are fused (`recon3r.stream.memory.PointerMemory`), `scale` being the mean distance
   of frame 0's points to the camera, so the radius is invariant to the model's unit.

3D positions of the current frame's tokens (the queries of the 3D RoPE): the previous frame's
predicted token positions (the camera moves little between consecutive frames, and this costs no
second pass); frame 0 uses its pixel rays at unit depth. Pointer positions are detached (no gradient
flows through positions; features stay differentiable through fusion). One learned "null" pointer
at the origin is always present, so frame 0 (empty memory) runs the same blocks.

Streams are processed one at a time (batch size 1): each stream's memory has its own size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from recon3r.errors import ConfigError
from recon3r.models.heads.linear import LinearPts3d
from recon3r.models.layers.blocks import Block, DecoderBlock, init_transformer_weights, layer_norm
from recon3r.models.layers.patch_embed import PatchEmbedDust3R
from recon3r.models.layers.rope import RoPE2D
from recon3r.models.layers.rope3d import RoPE3D
from recon3r.models.registry import config_from_kwargs, register_model
from recon3r.stream.memory import PointerMemory

Outputs = dict[str, Any]


@dataclass
class Point3RConfig:
    """Constructor arguments of `Point3R` (all JSON-serialisable).

    img_size: (height, width) the model is trained at (inference takes any multiple of the patch).
    merge_ratio: pointer fusion radius as a fraction of the stream's reference scale.
    rope_min_wavelength / rope_max_wavelength: 3D RoPE wavelengths in the model's world unit.
    """

    img_size: tuple[int, int] = (48, 64)
    patch_size: int = 8
    enc_embed_dim: int = 96
    enc_depth: int = 3
    enc_num_heads: int = 3
    dec_embed_dim: int = 96
    dec_depth: int = 3
    dec_num_heads: int = 3
    mlp_ratio: float = 2.0
    rope_base: float = 100.0
    rope_min_wavelength: float = 0.05
    rope_max_wavelength: float = 20.0
    merge_ratio: float = 0.05

    def __post_init__(self) -> None:
        self.img_size = (int(self.img_size[0]), int(self.img_size[1]))
        for dim, heads, name in ((self.enc_embed_dim, self.enc_num_heads, "enc"),
                                 (self.dec_embed_dim, self.dec_num_heads, "dec")):
            if dim % heads or (dim // heads) % 4:
                raise ConfigError(f"{name}_embed_dim {dim} / {name}_num_heads {heads} must give a head "
                                  "dimension that is a multiple of 4 (2D and 3D RoPE)")
        if self.merge_ratio < 0:
            raise ConfigError(f"merge_ratio must be >= 0, got {self.merge_ratio}")


# ------------------------------------------------------------------------------------------- model
@register_model
class Point3R(nn.Module):
    """Streaming pointmap model. `step(frame, memory)` for one frame; `forward(frames)` for a stream.

    Keyword arguments are the fields of `Point3RConfig`; `self.config` holds them (for `save_model`).
    Frames are (1, 3, H, W) in [-1, 1], H and W multiples of `patch_size`.
    """
    task_name = "stream"
    tiny_config = {"img_size": [24, 32], "enc_embed_dim": 24, "enc_depth": 1, "enc_num_heads": 2, "dec_embed_dim": 24, "dec_depth": 1, "dec_num_heads": 2}

    def __init__(self, **kwargs: Any):
        super().__init__()
        cfg = config_from_kwargs(Point3RConfig, kwargs, 'Point3R')
        self.cfg = cfg
        self.config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
        p = cfg.patch_size
        self.patch_embed = PatchEmbedDust3R(cfg.img_size, p, 3, cfg.enc_embed_dim)
        self.rope2d = RoPE2D(cfg.rope_base)
        self.enc_blocks = nn.ModuleList(
            Block(cfg.enc_embed_dim, cfg.enc_num_heads, cfg.mlp_ratio, rope=self.rope2d) for _ in range(cfg.enc_depth))
        self.enc_norm = layer_norm(cfg.enc_embed_dim)
        self.decoder_embed = nn.Linear(cfg.enc_embed_dim, cfg.dec_embed_dim)
        self.rope3d = RoPE3D(cfg.rope_min_wavelength, cfg.rope_max_wavelength)
        self.dec_blocks = nn.ModuleList(
            DecoderBlock(cfg.dec_embed_dim, cfg.dec_num_heads, cfg.mlp_ratio, rope=self.rope3d)  # type: ignore[arg-type]
            for _ in range(cfg.dec_depth))
        self.dec_norm = layer_norm(cfg.dec_embed_dim)
        self.null_pointer = nn.Parameter(torch.zeros(1, cfg.dec_embed_dim))
        self.pointer_proj = nn.Linear(cfg.dec_embed_dim, cfg.dec_embed_dim)
        exp_depth, exp_conf = ("exp", -math.inf, math.inf), ("exp", 1.0, math.inf)
        self.head_world = LinearPts3d(cfg.dec_embed_dim, p, exp_depth, exp_conf)
        self.head_cam = LinearPts3d(cfg.dec_embed_dim, p, exp_depth, exp_conf)
        self.apply(init_transformer_weights)
        nn.init.normal_(self.null_pointer, std=0.02)

    # -- public API ------------------------------------------------------------------------------
    def new_memory(self, device: torch.device | str | None = None) -> PointerMemory:
        """An empty memory for a new stream."""
        return PointerMemory.empty(self.cfg.dec_embed_dim, device=device)

    def forward(self, frames: torch.Tensor) -> tuple[list[Outputs], PointerMemory]:
        """Alias of `forward_stream`."""
        return self.forward_stream(frames)

    def forward_stream(self, frames: torch.Tensor | list[torch.Tensor], memory: PointerMemory | None = None
                       ) -> tuple[list[Outputs], PointerMemory]:
        """Run a stream: frames (T, 3, H, W) or a list of (1, 3, H, W) → per-frame outputs, final memory."""
        memory = self.new_memory(_first(frames).device) if memory is None else memory
        outputs = []
        for t in range(len(frames)):
            frame = frames[t]
            out, memory = self.step(frame if frame.ndim == 4 else frame[None], memory)
            outputs.append(out)
        return outputs, memory

    def step(self, frame: torch.Tensor, memory: PointerMemory) -> tuple[Outputs, PointerMemory]:
        """One frame (1, 3, H, W) against `memory` → (outputs, updated memory).

        Outputs: `pts3d` (1, H, W, 3) world-frame points, `conf` (1, H, W); `pts3d_cam` (1, H, W, 3)
        in the frame's camera frame, `conf_cam` (1, H, W); `memory_size` (int, before the update).
        """
        if frame.ndim != 4 or frame.shape[0] != 1 or frame.shape[1] != 3:
            raise ValueError(f"a frame must be (1, 3, H, W), got {tuple(frame.shape)}")
        H, W = frame.shape[-2:]
        tokens = self.encode(frame)
        query_pos = memory.last_positions
        if query_pos is None:
            query_pos = _unit_rays(H, W, self.cfg.patch_size, frame.device)
        x = self.decode(tokens, query_pos, memory)
        world = self.head_world([x], (H, W))
        cam = self.head_cam([x], (H, W))
        out = {"pts3d": world["pts3d"], "conf": world["conf"], "pts3d_cam": cam["pts3d"],
               "conf_cam": cam["conf"], "memory_size": len(memory)}
        return out, self.update_memory(memory, x, world["pts3d"])

    # -- stages ----------------------------------------------------------------------------------
    def encode(self, frame: torch.Tensor) -> torch.Tensor:
        """(1, 3, H, W) → encoder tokens (1, N, enc_dim), N = (H/p)·(W/p), row-major."""
        x, pos = self.patch_embed(frame)
        table = self.rope2d.table(pos, self.cfg.enc_embed_dim // self.cfg.enc_num_heads)
        for block in self.enc_blocks:
            x = block(x, table)
        return self.enc_norm(x)

    def decode(self, tokens: torch.Tensor, query_pos: torch.Tensor, memory: PointerMemory) -> torch.Tensor:
        """Tokens (1, N, enc_dim) at 3D positions (N, 3) ↔ memory pointers → decoded (1, N, dec_dim)."""
        head_dim = self.cfg.dec_embed_dim // self.cfg.dec_num_heads
        x = self.decoder_embed(tokens)
        pointers = torch.cat((self.null_pointer, memory.features.to(x.dtype)))[None]
        pointer_pos = torch.cat((query_pos.new_zeros(1, 3), memory.positions.to(query_pos.dtype)))[None]
        xtable = self.rope3d.table(query_pos[None], head_dim)
        ytable = self.rope3d.table(pointer_pos, head_dim)
        for block in self.dec_blocks:
            x = block(x, pointers, xtable, ytable)
        return self.dec_norm(x)

    def update_memory(self, memory: PointerMemory, x: torch.Tensor, world_pts: torch.Tensor) -> PointerMemory:
        """Add this frame's tokens as pointers at their patches' mean predicted world points."""
        p = self.cfg.patch_size
        _, H, W, _ = world_pts.shape
        positions = world_pts.detach()[0].reshape(H // p, p, W // p, p, 3).mean(dim=(1, 3)).reshape(-1, 3)
        scale = memory.scale
        if scale is None:  # frame 0: its camera is the world origin
            scale = world_pts.detach().norm(dim=-1).mean().clamp_min(1e-8)
        memory = PointerMemory(memory.positions, memory.features, memory.counts, scale, positions)
        return memory.update(positions, self.pointer_proj(x[0]), self.cfg.merge_ratio * scale)


def _first(frames: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    if len(frames) == 0:
        raise ValueError("a stream needs at least one frame")
    return frames[0]


def _unit_rays(height: int, width: int, patch: int, device: torch.device) -> torch.Tensor:
    """(N, 3) patch-centre rays at unit depth for a nominal focal of max(H, W) pixels (frame 0's queries)."""
    rows = (torch.arange(height // patch, device=device) + 0.5) * patch - height / 2
    cols = (torch.arange(width // patch, device=device) + 0.5) * patch - width / 2
    v, u = torch.meshgrid(rows, cols, indexing="ij")
    focal = float(max(height, width))
    return torch.stack((u / focal, v / focal, torch.ones_like(u)), dim=-1).reshape(-1, 3)




# ------------------------------------------------------------------------------------- variants
#: Named configurations: `Point3R(**POINT3R_CONFIGS[name])`.
POINT3R_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": {},  # 64×48, patch 8, 3+3 blocks of width 96: trains on one CPU core in minutes
    "test": {"img_size": (24, 32), "enc_embed_dim": 24, "enc_depth": 1, "enc_num_heads": 2,
             "dec_embed_dim": 24, "dec_depth": 1, "dec_num_heads": 2},
}
