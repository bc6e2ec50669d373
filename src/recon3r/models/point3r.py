"""Point3R (Wu et al., 2025): streaming 3D reconstruction with an explicit spatial pointer memory.

The official architecture and parameter names (YkiWu/Point3R), proven against the reference's outputs
(`tests/stream/test_point3r_parity.py`). Frames of a stream are processed in order; per frame t:

1. **Encode** (`encode_image`): ViT with 2D RoPE (the pair model's patch embedding and blocks) → F_t.
2. **Pose token**: the learned `pose_token` at t = 0; afterwards it is read from the pose memory
   (`pose_retriever`, CUT3R's local memory) with a query made from the mean token of F_t.
3. **Decode** (`decode`): two interleaved streams of L layers. Image tokens [pose ; decoder_embed(F_t)]
   cross-attend to the pointer memory, the pointers cross-attend to the image tokens; both read the
   previous layer's pair. From t = 1 on, 3D RoPE (`RoPE3D`) rotates the image tokens by the previous
   frame's patch centres and the pointers by their positions (the pose token is never rotated).
4. **Heads**: `camera_pose` from the final pose token; `pts3d_in_self_view` / `conf_self` (camera
   frame) and `pts3d_in_other_view` / `conf` (world = frame 0's camera frame) from two DPT heads; the
   world head first passes the last tokens through two adaLN blocks conditioned on the pose token.
5. **Pose memory** write, then the **pointer update** (`recon3r.models.layers.pointer_memory`): the
   frame's patch centres become pointers with features decoder_embed_memory(memory_attn_head([F_t ;
   X_L]) + value encoder(world points)), merged into or appended to the memory.

Frame 0 is special: no RoPE anywhere in the decoder, the learned pose token, a memory made of its own
projected encoder tokens (decoder_embed_memory(F_0), no positions), and its pointer update *replaces*
that memory. The memory is zero-padded to the batch's longest from frame 2 on (masks in attention).

Quirks of the official code, reproduced in the official configuration (each changes outputs by more
than 1e-4) and switchable only by explicit flags:
- `encoder_rope_float16=True`: the encoder's RoPE runs in float16 (CroCo/CUT3R cast q and k to
  float16 before the PyTorch RoPE fallback and back afterwards). False computes it in float32.
- `memory_write_back=False`: the memory stream's decoder output (and `dec_norm_memory`) is discarded;
  the decoder never changes the pointer features. Because of that the last memory block cannot affect
  any output and is not run. True writes dec_norm_memory(Y_L) back into the pointers before the update.
Also as in the reference: the value encoder sees the raw world points; the memory update reads
detached points, encoder tokens and decoder tokens (gradients reach the memory only through
`memory_attn_head`, the value encoder and `decoder_embed_memory`); `ManyAR_PatchEmbed` never
transposes in this fork, so both patch-embedding names build the same plain conv embedding.

Inputs: views are dicts with `img` (B, 3, H, W) in [-1, 1], `true_shape` (B, 2) (height, width) and
optionally `img_mask` (B,) bool (masked-out frames get zero encoder tokens, as in the reference). All
frames and samples share one H×W (multiples of 16).

Use `forward(views)` for training (list of per-frame dicts, differentiable), `stream(views)` to also
get the final `StreamState`, or the step API for constant work per frame:
`state = None; for view in frames: out, state = model.step(view, state)`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from recon3r.errors import ConfigError
from recon3r.models.dust3r import _autocast_off, _pair, true_shape_of
from recon3r.models.heads.dpt import DPTAdapter, dpt_alias
from recon3r.models.heads.landscape import apply_head
from recon3r.models.heads.pose import PoseHead, postprocess_pose
from recon3r.models.heads.postprocess import CONF_MODES, DEPTH_MODES, Mode, check_mode, postprocess
from recon3r.models.layers.blocks import (
    Block,
    DecoderBlock,
    ModulatedBlock,
    init_transformer_weights,
    layer_norm,
)
from recon3r.models.layers.patch_embed import PATCH_EMBEDS, PatchEmbedDust3R
from recon3r.models.layers.pointer_memory import MergeStats, PointerMemory, patch_centres
from recon3r.models.layers.rope import RoPE2D, prepend_unrotated, resolve_rope
from recon3r.models.layers.rope3d import resolve_rope3d
from recon3r.models.registry import register_model

inf = math.inf
View = Mapping[str, Any]
PATCH = 16  # the reference hard-codes 16 in the pointer update; the DPT head is wired for it too


# ------------------------------------------------------------------------------------------ blocks
class PoseRetriever(nn.Module):
    """CUT3R's local pose memory: S slots of width 2d, read and written by decoder blocks (no RoPE).

    `read(g, mem)`: the query [proj_q(g) ; masked_token] (B, 1, 2d) cross-attends to `mem` through
    `read_blocks`; the pose token is its last d channels. `write(mem, g, pose)`: `mem` attends to
    itself and to the token [proj_q(g) ; pose] through `write_blocks`; returns the new memory.
    g is the frame's mean encoder token (B, 1, e).
    """

    def __init__(self, size: int, enc_dim: int, dim: int, num_heads: int, depth: int = 2):
        super().__init__()
        self.dim = dim
        self.proj_q = nn.Linear(enc_dim, dim)
        self.masked_token = nn.Parameter(torch.randn(1, 1, dim) * 0.2)
        self.mem = nn.Parameter(torch.randn(1, size, 2 * dim) * 0.2)
        self.write_blocks = nn.ModuleList(DecoderBlock(2 * dim, num_heads, 4.0, qkv_bias=True) for _ in range(depth))
        self.read_blocks = nn.ModuleList(DecoderBlock(2 * dim, num_heads, 4.0, qkv_bias=True) for _ in range(depth))

    def initial(self, batch: int) -> torch.Tensor:
        """(B, S, 2d) the learned initial memory."""
        return self.mem.expand(batch, -1, -1)

    def read(self, global_token: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        """Pose token (B, 1, d) for a frame whose mean encoder token is `global_token` (B, 1, e)."""
        x = self.proj_q(global_token)
        x = torch.cat((x, self.masked_token.expand(x.shape[0], -1, -1)), dim=-1)
        for block in self.read_blocks:
            x = block(x, mem)
        return x[..., -self.dim :]

    def write(self, mem: torch.Tensor, global_token: torch.Tensor, pose_token: torch.Tensor) -> torch.Tensor:
        """The memory (B, S, 2d) after a frame with mean encoder token (B, 1, e) and decoded pose token (B, 1, d)."""
        token = torch.cat((self.proj_q(global_token), pose_token), dim=-1)
        for block in self.write_blocks:
            mem = block(mem, token)
        return mem


class PointmapPoseHead(nn.Module):
    """Point3R's `downstream_head` (CUT3R `DPTPts3dPose`): two DPT heads and a pose MLP.

    `forward(tokens, image_size, pos)`: tokens [F (B, N, e), X_a, X_b (B, N, d), X_L (B, 1+N, d) with
    the pose token first]; `pos` (B, N, 2) patch positions for the adaLN blocks' 2D RoPE (float32).
    Returns `pts3d_in_self_view` (B, H, W, 3), `conf_self`, `pts3d_in_other_view`, `conf` (B, H, W)
    and the raw pose (B, 7) under `raw_pose`.
    """

    def __init__(self, enc_dim: int, dec_dim: int, dec_num_heads: int, depth_mode: Mode, conf_mode: Mode,
                 rope: RoPE2D, feature_dim: int, layer_dims: Sequence[int]):
        super().__init__()
        self.depth_mode, self.conf_mode = depth_mode, conf_mode
        self.head_dim = dec_dim // dec_num_heads
        self.rope = rope
        adapter = dict(hooks=[0, 1, 2, 3], dim_tokens=[enc_dim, dec_dim, dec_dim, dec_dim], num_channels=4,
                       patch_size=PATCH, feature_dim=feature_dim, layer_dims=layer_dims)
        # Registration order fixes the official state_dict order.
        self.dpt_self = DPTAdapter(**adapter)
        self.final_transform = nn.ModuleList(
            ModulatedBlock(dec_dim, dec_num_heads, 4.0, qkv_bias=True, rope=rope) for _ in range(2))
        self.dpt_cross = DPTAdapter(**adapter)
        self.pose_head = PoseHead(dec_dim)

    def forward(self, tokens: list[torch.Tensor], image_size: tuple[int, int], pos: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        pose_token, last = tokens[3][:, 0], tokens[3][:, 1:]
        table = self.rope.table(pos, self.head_dim)
        world = last
        for block in self.final_transform:
            world = block(world, pose_token, table)
        own = postprocess(self.dpt_self([*tokens[:3], last], image_size), self.depth_mode, self.conf_mode)
        other = postprocess(self.dpt_cross([*tokens[:3], world], image_size), self.depth_mode, self.conf_mode)
        return {"pts3d_in_self_view": own["pts3d"], "conf_self": own["conf"],
                "pts3d_in_other_view": other["pts3d"], "conf": other["conf"], "raw_pose": self.pose_head(pose_token)}


@dataclass
class StreamState:
    """What one frame hands to the next, for a batch of B streams.

    frame: index of the next frame. memory: the pointer memory (None before frame 0's update).
    pose_memory (B, S, 2d): the pose retriever's memory. image_positions (B, N, 3) or None: the
    previous frame's patch centres (the next image tokens' 3D RoPE positions). max_pointers: the
    memory cap (None: official, unbounded). last_update: per sample, what the last update did.
    """

    frame: int
    memory: PointerMemory | None
    pose_memory: torch.Tensor
    image_positions: torch.Tensor | None
    max_pointers: int | None = None
    last_update: list[MergeStats] | None = None


# ------------------------------------------------------------------------------------------- model
@register_model
class Point3R(nn.Module):
    """The official Point3R; keyword arguments are the official `Point3RConfig`'s (and CroCo's).

    Defaults are the released architecture's (ViT-L encoder, base decoder, DPT + pose head). Extra
    keywords: `value_enc_depth`, `value_enc_num_heads`, `dpt_feature_dim`, `dpt_layer_dims` (sizes the
    reference hard-codes: 6, 16, 256, [96, 192, 384, 768]; the value encoder's width is
    `enc_embed_dim`), and the quirk switches `encoder_rope_float16`, `memory_write_back` (see the
    module docstring). `mask_ratio` is accepted for compatibility and unused. `self.config` holds
    the normalised arguments (what `save_model` writes).
    """

    task_name: ClassVar[str] = "stream"
    #: A tiny configuration for CPU tests (about 0.33 M parameters; frames of any multiple of 16).
    tiny_config: ClassVar[dict[str, Any]] = dict(
        pos_embed="RoPE100", pos_embed_3d="RoPE3D100", pose_head=True, head_type="dpt", output_mode="pts3d+pose",
        enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=16, dec_depth=2, dec_num_heads=1,
        memory_dec_num_heads=1, local_mem_size=16, value_enc_depth=2, value_enc_num_heads=2,
        dpt_feature_dim=16, dpt_layer_dims=(8, 16, 16, 32), img_size=(224, 224), landscape_only=False,
    )
    #: Defaults of the official `Point3RConfig` / `CrocoConfig` that differ from ours, applied to
    #: official constructor strings (which always spell out the released values).
    reference_defaults: ClassVar[dict[str, Any]] = dict(
        output_mode="pts3d", pose_head=False, pos_embed="cosine", pos_embed_3d="None", img_size=224,
        enc_embed_dim=768, enc_depth=12, enc_num_heads=12, dec_embed_dim=512, dec_depth=8, dec_num_heads=16,
    )

    def __init__(
        self,
        output_mode: str = "pts3d+pose",
        head_type: str = "dpt",
        depth_mode: Sequence = ("exp", -inf, inf),
        conf_mode: Sequence = ("exp", 1, inf),
        pose_mode: Sequence = ("exp", -inf, inf),
        freeze: str = "none",
        landscape_only: bool = True,
        patch_embed_cls: str = "PatchEmbedDust3R",
        local_mem_size: int = 256,
        memory_dec_num_heads: int = 16,
        depth_head: bool = False,
        pose_conf_head: bool = False,
        pose_head: bool = True,
        img_size: int | Sequence[int] = (512, 512),
        patch_size: int = 16,
        mask_ratio: float = 0.9,
        enc_embed_dim: int = 1024,
        enc_depth: int = 24,
        enc_num_heads: int = 16,
        dec_embed_dim: int = 768,
        dec_depth: int = 12,
        dec_num_heads: int = 12,
        mlp_ratio: float = 4,
        norm_im2_in_dec: bool = True,
        pos_embed: str = "RoPE100",
        pos_embed_3d: str = "RoPE3D100",
        value_enc_depth: int = 6,
        value_enc_num_heads: int = 16,
        dpt_feature_dim: int = 256,
        dpt_layer_dims: Sequence[int] = (96, 192, 384, 768),
        encoder_rope_float16: bool = True,
        memory_write_back: bool = False,
    ):
        super().__init__()
        img_size = _pair(img_size, "img_size")
        try:
            depth_mode = check_mode(depth_mode, DEPTH_MODES, "depth_mode")
            conf_mode = check_mode(conf_mode, CONF_MODES, "conf_mode")
            pose_mode = check_mode(pose_mode, DEPTH_MODES, "pose_mode")
            rope = resolve_rope(pos_embed)
            rope3d = resolve_rope3d(pos_embed_3d)
        except ValueError as err:
            raise ConfigError(f"Point3R: {err}") from None
        dpt_layer_dims = tuple(int(d) for d in dpt_layer_dims)
        _check_config(output_mode, head_type, freeze, patch_embed_cls, pose_head, depth_head, pose_conf_head,
                      img_size, patch_size, dec_depth, dpt_layer_dims,
                      [("enc", enc_embed_dim, enc_num_heads, 4), ("dec", dec_embed_dim, dec_num_heads, 4),
                       ("memory_dec", dec_embed_dim, memory_dec_num_heads, 1),
                       ("value_enc", enc_embed_dim, value_enc_num_heads, 4)])
        self.config: dict[str, Any] = dict(
            output_mode=output_mode, head_type=head_type, depth_mode=depth_mode, conf_mode=conf_mode,
            pose_mode=pose_mode, freeze=freeze, landscape_only=bool(landscape_only), patch_embed_cls=patch_embed_cls,
            local_mem_size=local_mem_size, memory_dec_num_heads=memory_dec_num_heads, depth_head=depth_head,
            pose_conf_head=pose_conf_head, pose_head=pose_head, img_size=img_size, patch_size=patch_size,
            mask_ratio=mask_ratio, enc_embed_dim=enc_embed_dim, enc_depth=enc_depth, enc_num_heads=enc_num_heads,
            dec_embed_dim=dec_embed_dim, dec_depth=dec_depth, dec_num_heads=dec_num_heads, mlp_ratio=mlp_ratio,
            norm_im2_in_dec=bool(norm_im2_in_dec), pos_embed=pos_embed, pos_embed_3d=pos_embed_3d,
            value_enc_depth=value_enc_depth, value_enc_num_heads=value_enc_num_heads,
            dpt_feature_dim=dpt_feature_dim, dpt_layer_dims=dpt_layer_dims,
            encoder_rope_float16=bool(encoder_rope_float16), memory_write_back=bool(memory_write_back),
        )
        self.landscape_only = bool(landscape_only)
        self.dec_depth = dec_depth
        self.pose_mode = pose_mode
        self.encoder_rope_dtype = torch.float16 if encoder_rope_float16 else torch.float32
        self.memory_write_back = bool(memory_write_back)
        self.rope, self.rope3d = rope, rope3d

        # Registration order fixes the official state_dict order.
        self.pose_token = nn.Parameter(torch.randn(1, 1, dec_embed_dim) * 0.02)
        self.patch_embed = PatchEmbedDust3R(img_size, patch_size, 3, enc_embed_dim)
        self.pts_patch_embed = PatchEmbedDust3R(img_size, patch_size, 3, enc_embed_dim)
        self.enc_blocks = nn.ModuleList(
            Block(enc_embed_dim, enc_num_heads, mlp_ratio, qkv_bias=True, rope=rope) for _ in range(enc_depth))
        self.enc_norm = layer_norm(enc_embed_dim)
        self.decoder_embed = nn.Linear(enc_embed_dim, dec_embed_dim)
        self.dec_blocks = nn.ModuleList(
            DecoderBlock(dec_embed_dim, dec_num_heads, mlp_ratio, qkv_bias=True, norm_mem=norm_im2_in_dec,
                         rope=rope3d)  # type: ignore[arg-type]
            for _ in range(dec_depth))
        self.dec_norm = layer_norm(dec_embed_dim)
        self._init_croco_weights()
        self.pose_retriever = PoseRetriever(local_mem_size, enc_embed_dim, dec_embed_dim, dec_num_heads)
        self.decoder_embed_memory = nn.Linear(enc_embed_dim, dec_embed_dim)
        self.dec_blocks_memory = nn.ModuleList(
            DecoderBlock(dec_embed_dim, memory_dec_num_heads, mlp_ratio, qkv_bias=True, norm_mem=norm_im2_in_dec,
                         rope=rope3d)  # type: ignore[arg-type]
            for _ in range(dec_depth))
        self.dec_norm_memory = layer_norm(dec_embed_dim)
        self.value_encoder = nn.ModuleList(
            Block(enc_embed_dim, value_enc_num_heads, 4.0, qkv_bias=True, rope=rope) for _ in range(value_enc_depth))
        self.value_norm = layer_norm(enc_embed_dim)
        self.value_out = nn.Linear(enc_embed_dim, enc_embed_dim)
        self.downstream_head = PointmapPoseHead(enc_embed_dim, dec_embed_dim, dec_num_heads, depth_mode, conf_mode,
                                                rope, dpt_feature_dim, dpt_layer_dims)
        both = enc_embed_dim + dec_embed_dim
        self.memory_attn_head = nn.Sequential(nn.Linear(both, both), nn.GELU(), nn.Linear(both, enc_embed_dim))
        self.set_freeze(freeze)

    def _init_croco_weights(self) -> None:
        """CroCo's initialisation of the modules CroCoNet builds (the rest keeps PyTorch's defaults)."""
        for embed in (self.patch_embed, self.pts_patch_embed):
            w = embed.proj.weight.data
            nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        for module in [*self.enc_blocks.modules(), self.enc_norm, self.decoder_embed, *self.dec_blocks.modules(),
                       self.dec_norm]:
            init_transformer_weights(module)

    def set_freeze(self, freeze: str) -> None:
        """'none': train everything; 'encoder': freeze the patch embedding, encoder blocks and `enc_norm`."""
        frozen = {"none": [], "encoder": [self.patch_embed, self.enc_blocks, self.enc_norm]}
        if freeze not in frozen:
            raise ConfigError(f"Point3R: freeze={freeze!r} is unknown (known: {', '.join(frozen)})")
        for module in frozen[freeze]:
            for p in module.parameters():
                p.requires_grad_(False)

    def filter_state_dict(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        """Map accepted spellings of a checkpoint onto this model's names (`checkpoint_filter_fn`)."""
        return checkpoint_filter_fn(state_dict, self)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Load official-named weights; see `checkpoint_filter_fn` for the accepted variants."""
        return super().load_state_dict(self.filter_state_dict(state_dict), strict=strict, assign=assign)

    # ---------------------------------------------------------------- streaming API
    def forward(self, views: Sequence[View]) -> list[dict[str, torch.Tensor]]:
        """Run a whole stream (list of T view dicts); returns one dict of outputs per frame.

        Keys: `pts3d_in_self_view` (B, H, W, 3), `conf_self` (B, H, W), `camera_pose` (B, 7)
        [t, q real first] camera-to-world, `pts3d_in_other_view` (B, H, W, 3) world points, `conf`.
        """
        return self.stream(views)[0]

    def stream(self, views: Sequence[View], state: StreamState | None = None, max_pointers: int | None = None
               ) -> tuple[list[dict[str, torch.Tensor]], StreamState]:
        """`forward` that also returns the final state; all frames are encoded in one batch first."""
        if len(views) == 0:
            raise ValueError("a stream needs at least one frame")
        imgs = torch.stack([v["img"] for v in views])  # (T, B, 3, H, W)
        T, B = imgs.shape[:2]
        shapes = torch.stack([true_shape_of(v) for v in views])  # (T, B, 2), CPU
        feat, pos = self.encode_image(imgs.flatten(0, 1), shapes.flatten(0, 1))
        feat, pos = feat.unflatten(0, (T, B)), pos.unflatten(0, (T, B))
        if any("img_mask" in v for v in views):
            keep = torch.stack([torch.as_tensor(v.get("img_mask", True)).expand(B) for v in views]).to(feat.device)
            feat = feat * keep[..., None, None].to(feat.dtype)
            pos = pos * keep[..., None, None].to(pos.dtype)
        state = state if state is not None else self.init_state(B, feat.device, max_pointers)
        results = []
        for t in range(T):
            res, state = self.decode_step(feat[t], pos[t], shapes[t], state)
            results.append(res)
        return results, state

    def step(self, view: View, state: StreamState | None = None, max_pointers: int | None = None
             ) -> tuple[dict[str, torch.Tensor], StreamState]:
        """One frame (a view dict with `img` (B, 3, H, W)) against `state` (None: a new stream).

        Constant work per frame: encode, decode against the (bounded, with `max_pointers`) memory,
        update the memory. Returns the frame's outputs (as `forward`) and the next state.
        """
        shape = true_shape_of(view)
        feat, pos = self.encode_image(view["img"], shape)
        if state is None:
            state = self.init_state(feat.shape[0], feat.device, max_pointers)
        return self.decode_step(feat, pos, shape, state)

    def init_state(self, batch: int, device: torch.device | str | None = None, max_pointers: int | None = None
                   ) -> StreamState:
        """The state before frame 0 of B new streams (`max_pointers`: the memory cap, None = official)."""
        if max_pointers is not None and max_pointers < 1:
            raise ValueError(f"max_pointers must be a positive number of pointers or None, got {max_pointers}")
        pose_memory = self.pose_retriever.initial(batch)
        if device is not None:
            pose_memory = pose_memory.to(device)
        return StreamState(0, None, pose_memory, None, max_pointers)

    # ---------------------------------------------------------------- stages
    def encode_image(self, img: torch.Tensor, true_shape: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """img (B, 3, H, W) → tokens (B, N, enc_dim) after `enc_norm`, positions (B, N, 2) (row, col)."""
        x, pos = self.patch_embed(img, true_shape=true_shape)
        if len(self.enc_blocks):
            table = self.rope.table(pos, self.enc_blocks[0].attn.head_dim, dtype=self.encoder_rope_dtype)
            for block in self.enc_blocks:
                x = block(x, table)
        return self.enc_norm(x), pos

    def decode_step(self, feat: torch.Tensor, pos: torch.Tensor, true_shape: torch.Tensor, state: StreamState
                    ) -> tuple[dict[str, torch.Tensor], StreamState]:
        """Frame `state.frame` from its encoder tokens (B, N, e) and positions (B, N, 2) → (outputs, next state)."""
        B = feat.shape[0]
        global_token = feat.mean(dim=1, keepdim=True)
        if state.frame == 0:
            pose_in = self.pose_token.expand(B, -1, -1)
            memory, pointer_pos, valid = self.decoder_embed_memory(feat), None, None
        else:
            if state.memory is None or len(state.memory) != B:
                raise ValueError(f"the stream state holds {0 if state.memory is None else len(state.memory)} "
                                 f"memories, the frame a batch of {B}")
            pose_in = self.pose_retriever.read(global_token, state.pose_memory)
            memory, pointer_pos, valid = state.memory.padded()
        dec, memory_out = self.decode(feat, pose_in, memory, valid, state.image_positions, pointer_pos)
        pose_memory = self.pose_retriever.write(state.pose_memory, global_token, dec[-1][:, :1])
        res = self.heads(dec, pos, true_shape)

        points = res["pts3d_in_other_view"].detach()
        centres = patch_centres(points, PATCH)
        new_features = self.pointer_features(feat.detach(), dec[-1][:, 1:].detach(), points, true_shape)
        if state.frame == 0:
            pointers, stats = PointerMemory.from_frame(centres, new_features), None
            if state.max_pointers is not None and centres.shape[1] > state.max_pointers:
                raise ValueError(f"max_pointers={state.max_pointers} is below the {centres.shape[1]} patches of one frame")
        else:
            old = state.memory if memory_out is None else state.memory.with_features(memory_out)
            pointers, stats = old.update(centres, new_features, state.max_pointers)
        return res, StreamState(state.frame + 1, pointers, pose_memory, centres, state.max_pointers, stats)

    def decode(self, feat: torch.Tensor, pose_token: torch.Tensor, memory: torch.Tensor, valid: torch.Tensor | None,
               image_positions: torch.Tensor | None, pointer_positions: torch.Tensor | None
               ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """The two interleaved decoder streams.

        feat (B, N, e); pose_token (B, 1, d); memory (B, K, d) pointer features with `valid` (B, K)
        bool or None; positions (B, N, 3) / (B, K, 3), or None for no RoPE (frame 0).
        Returns [F, X_1, ..., dec_norm(X_L)] (X with the pose token first) and, with
        `memory_write_back`, dec_norm_memory(Y_L) (else None).
        """
        x = torch.cat((pose_token, self.decoder_embed(feat)), dim=1)
        y = memory
        x_img = y_img = x_mem = y_mem = None
        if image_positions is not None:
            img_dim = self.dec_blocks[0].attn.head_dim
            mem_dim = self.dec_blocks_memory[0].attn.head_dim
            x_img = prepend_unrotated(self.rope3d.table(image_positions, img_dim), 1)
            y_img = self.rope3d.table(pointer_positions, img_dim)
            x_mem = x_img if mem_dim == img_dim else prepend_unrotated(self.rope3d.table(image_positions, mem_dim), 1)
            y_mem = y_img if mem_dim == img_dim else self.rope3d.table(pointer_positions, mem_dim)
        memory_self_mask = key_mask = None
        if valid is not None:
            # Valid pointers see valid pointers only; padded rows (discarded) may see anything.
            memory_self_mask = (valid[:, None, :] | ~valid[:, :, None])[:, None]
            key_mask = valid[:, None, None, :]
        outputs = [feat]
        last = len(self.dec_blocks) - 1
        for layer, (image_block, memory_block) in enumerate(zip(self.dec_blocks, self.dec_blocks_memory)):
            new_x = image_block(x, y, x_img, y_img, None, key_mask)
            if layer < last or self.memory_write_back:  # the last memory block only feeds the discarded output
                y = memory_block(y, x, y_mem, x_mem, memory_self_mask, None)
            x = new_x
            outputs.append(x)
        outputs[-1] = self.dec_norm(outputs[-1])
        return outputs, (self.dec_norm_memory(y) if self.memory_write_back else None)

    def heads(self, dec: list[torch.Tensor], pos: torch.Tensor, true_shape: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head outputs of one frame from the decoder list (float32, autocast off)."""
        L = self.dec_depth
        tokens = [dec[0], dec[L * 2 // 4][:, 1:], dec[L * 3 // 4][:, 1:], dec[L]]
        tokens = [t.float() for t in tokens]

        def head(subset: list[torch.Tensor], image_size: tuple[int, int]) -> dict[str, torch.Tensor]:
            # Every sample shares the tensor's patch grid, so the positions of a subset are the first rows.
            return self.downstream_head(subset, image_size, pos[: subset[0].shape[0]])

        with _autocast_off(tokens[0].device):
            res = apply_head(head, tokens, true_shape, landscape_only=self.landscape_only)
            pose = postprocess_pose(res.pop("raw_pose"), self.pose_mode)
        return {"pts3d_in_self_view": res["pts3d_in_self_view"], "conf_self": res["conf_self"], "camera_pose": pose,
                "pts3d_in_other_view": res["pts3d_in_other_view"], "conf": res["conf"]}

    def pointer_features(self, feat: torch.Tensor, dec_tokens: torch.Tensor, points: torch.Tensor,
                         true_shape: torch.Tensor) -> torch.Tensor:
        """New pointer features (B, N, d) from encoder tokens (B, N, e), decoder tokens (B, N, d) and world points."""
        key = self.memory_attn_head(torch.cat((feat, dec_tokens), dim=-1))
        value, value_pos = self.pts_patch_embed(points.permute(0, 3, 1, 2), true_shape=true_shape)
        if len(self.value_encoder):
            table = self.rope.table(value_pos, self.value_encoder[0].attn.head_dim)
            for block in self.value_encoder:
                value = block(value, table)
        value = self.value_out(self.value_norm(value))
        return self.decoder_embed_memory(key + value).float()


def _check_config(output_mode: str, head_type: str, freeze: str, patch_embed_cls: str, pose_head: bool,
                  depth_head: bool, pose_conf_head: bool, img_size: tuple[int, int], patch_size: int, dec_depth: int,
                  dpt_layer_dims: tuple[int, ...], head_dims: list[tuple[str, int, int, int]]) -> None:
    """ConfigError naming the first unsupported argument."""
    if output_mode != "pts3d+pose":
        raise ConfigError(f"Point3R: output_mode={output_mode!r} is not supported (only 'pts3d+pose')")
    if head_type != "dpt":
        raise ConfigError(f"Point3R: head_type={head_type!r} is not supported (only 'dpt')")
    if not pose_head or depth_head or pose_conf_head:
        raise ConfigError("Point3R needs pose_head=True (the forward pass always uses the pose retriever) and "
                          "supports neither depth_head nor pose_conf_head")
    if freeze not in ("none", "encoder"):
        raise ConfigError(f"Point3R: freeze={freeze!r} is unknown (known: none, encoder)")
    if patch_embed_cls not in PATCH_EMBEDS:
        raise ConfigError(f"Point3R: patch_embed_cls={patch_embed_cls!r} is unknown (known: {', '.join(PATCH_EMBEDS)})")
    if patch_size != PATCH:
        raise ConfigError(f"Point3R is wired for patch_size=16 (pointer update and DPT head), got {patch_size}")
    if img_size[0] % patch_size or img_size[1] % patch_size:
        raise ConfigError(f"Point3R: img_size={img_size} must be a multiple of patch_size={patch_size}")
    if dec_depth < 2:
        raise ConfigError(f"Point3R needs dec_depth >= 2 (the DPT head reads layers 2L/4 and 3L/4), got {dec_depth}")
    if len(dpt_layer_dims) != 4:
        raise ConfigError(f"Point3R: dpt_layer_dims must have four entries, got {list(dpt_layer_dims)}")
    for field, dim, heads, multiple in head_dims:
        if heads < 1 or dim % heads or (dim // heads) % multiple:
            raise ConfigError(f"Point3R: {field} width {dim} / {field}_num_heads {heads} must give a whole head "
                              f"dimension{' divisible by 4 (2D RoPE)' if multiple == 4 else ''}")


# ------------------------------------------------------------------------------- checkpoint filter
#: DUSt3R's names → Point3R's (the official `from_dust3r_to_ours`, used by `--pretrained` in stage 1).
DUST3R_RENAMES: tuple[tuple[str, str], ...] = (
    ("dec_blocks2.", "dec_blocks_memory."),  # DUSt3R's second decoder initialises the memory decoder
    ("downstream_head1.dpt.", "downstream_head.dpt_self."),  # view-1 DPT head → camera-frame points
    ("downstream_head2.dpt.", "downstream_head.dpt_cross."),  # view-2 DPT head → world (frame 0) points
)


def checkpoint_filter_fn(state_dict: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """Map the accepted spellings of a Point3R state dict onto `model`'s names (pure: returns a new dict).

    - A DataParallel `module.` prefix on every name is dropped.
    - A DUSt3R checkpoint (e.g. `DUSt3R_ViTLarge_BaseDecoder_512_dpt.pth`, Point3R's stage-1
      initialisation) is renamed as the official training does (`DUST3R_RENAMES`): `dec_blocks2.*` →
      `dec_blocks_memory.*`, `downstream_head{1,2}.dpt.*` → `downstream_head.dpt_{self,cross}.*`; the
      DUSt3R names are dropped. The encoder, `decoder_embed`, `dec_blocks` and `dec_norm` share their names.
      A prefix is renamed only when the checkpoint has none of the target names.
    - A DPT `scratch.layer{N}_rn.weight` / `scratch.layer_rn.{N-1}.weight` present under only one of
      its two official names is copied to the other.
    - The official loader's DUSt3R initialisation: without any `dec_blocks_memory.*`, they are copies
      of `dec_blocks.*`; without any `pts_patch_embed.*`, copies of `patch_embed.*`.
    What stays new (left at its initialisation) after a DUSt3R checkpoint: the pose token and retriever,
    `decoder_embed_memory`, `dec_norm_memory`, the value encoder, `memory_attn_head`, the head's
    `final_transform` and `pose_head`; DUSt3R's `mask_token` (and a linear head) is ignored.
    """
    out = dict(state_dict)
    if out and all(k.startswith("module.") for k in out):
        out = {k[len("module."):]: v for k, v in out.items()}
    for source, target in DUST3R_RENAMES:
        if any(k.startswith(source) for k in out) and not any(k.startswith(target) for k in out):
            out = {(target + k[len(source):] if k.startswith(source) else k): v for k, v in out.items()}
    expected = set(model.state_dict().keys())
    for name in list(out):
        alias = dpt_alias(name)
        if alias is not None and alias not in out and alias in expected:
            out[alias] = out[name]
    for source, target in (("dec_blocks.", "dec_blocks_memory."), ("patch_embed.", "pts_patch_embed.")):
        if not any(k.startswith(target) for k in out):
            for name, value in list(out.items()):
                if name.startswith(source):
                    out[target + name[len(source):]] = value
    return out


# ------------------------------------------------------------------------------------------ configs
_OFFICIAL_COMMON: dict[str, Any] = dict(
    pos_embed="RoPE100", pos_embed_3d="RoPE3D100", pose_head=True, head_type="dpt", output_mode="pts3d+pose",
    depth_mode=("exp", -inf, inf), conf_mode=("exp", 1, inf), pose_mode=("exp", -inf, inf),
    enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, dec_embed_dim=768, dec_depth=12, dec_num_heads=12,
)

#: Constructor kwargs of the official configurations (`config/*.yaml` of the reference).
OFFICIAL_CONFIGS: dict[str, dict[str, Any]] = {
    # Stage 1 (224 px, 5 frames), from DUSt3R's 512 DPT weights.
    "point3r_224_dpt": dict(_OFFICIAL_COMMON, img_size=(224, 224)),
    # Stages 2 and 3 (512 px; stage 3 freezes the encoder): the released `point3r_512.pth`.
    "point3r_512_dpt": dict(_OFFICIAL_COMMON, freeze="encoder", patch_embed_cls="ManyAR_PatchEmbed",
                            img_size=(512, 512), landscape_only=False),
}
