"""DUSt3R's pair model, `AsymmetricCroCo3DStereo`, with the official parameter names.

Forward pass, top-down: `encode_pair` (shared ViT encoder with 2D RoPE, both views batched when
their tensors have the same size) → `decode` (two cross-attending decoders, one per view) →
`heads` (linear or DPT pointmap head per view, run in each image's true orientation).

`model(view1, view2)` takes dicts with
- `img`: (B, 3, H, W) in [-1, 1];
- `true_shape` (optional): (B, 2) int (height, width) of the real images (default: the tensor's;
  any device, used on the CPU);
- `instance` (optional): B labels; a symmetrized batch, (a, b), (b, a), ..., is detected from them
  and only one image of each pair is encoded (exact when the labels are truthful);
and returns `(res1, res2)`: `res1['pts3d']` (B, H, W, 3) view 1's points in camera 1's frame,
`res2['pts3d_in_other_view']` view 2's points, also in camera 1's frame, and `conf` (B, H, W) each.

Subclasses extend the stages: override `encode_pair`/`encode_image`, `forward_encoded` (what runs
after the encoder), `decode` (or pass `extra1`, `extra2` tokens without image position, e.g. a
caption token), `decode_layer` (e.g. FiLM/AdaLN modulation around the decoder blocks) or `heads`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from recon3r.errors import ConfigError
from recon3r.models.heads.dpt import PixelwiseTaskWithDPT, dpt_alias
from recon3r.models.heads.landscape import apply_head
from recon3r.models.heads.linear import LinearPts3d
from recon3r.models.heads.postprocess import CONF_MODES, DEPTH_MODES, check_mode
from recon3r.models.layers.blocks import Block, DecoderBlock, init_transformer_weights, layer_norm
from recon3r.models.layers.patch_embed import PATCH_EMBEDS, make_patch_embed
from recon3r.models.layers.rope import RotaryTable, resolve_rope
from recon3r.models.registry import register_model

inf = math.inf

View = Mapping[str, Any]


class PairEncoding(NamedTuple):
    """Encoder output for a batch of pairs: tokens (B, N_i, enc_dim), positions (B, N_i, 2), true shapes (B, 2)."""

    feat1: torch.Tensor
    feat2: torch.Tensor
    pos1: torch.Tensor
    pos2: torch.Tensor
    shape1: torch.Tensor
    shape2: torch.Tensor


def is_symmetrized(view1: View, view2: View) -> bool:
    """True when the batch is (a, b), (b, a), (c, d), (d, c), ... according to `instance` labels."""
    x, y = view1.get("instance"), view2.get("instance")
    if x is None or y is None:
        return False
    x, y = list(x), list(y)
    if len(x) != len(y) or len(x) < 2 or len(x) % 2:
        return False
    return all(bool(x[i] == y[i + 1]) and bool(x[i + 1] == y[i]) for i in range(0, len(x), 2))


def interleave(t1: torch.Tensor, t2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a0, a1, ...), (b0, b1, ...) → (a0, b0, a1, b1, ...), (b0, a0, b1, a1, ...)."""
    return torch.stack((t1, t2), dim=1).flatten(0, 1), torch.stack((t2, t1), dim=1).flatten(0, 1)


def true_shape_of(view: View) -> torch.Tensor:
    """(B, 2) int64 (height, width) of a view's images: `true_shape` if given, else the tensor's.

    Kept on the CPU: it is host-side metadata that decides shapes (no device syncs, meta-friendly).
    """
    img = view["img"]
    shape = view.get("true_shape")
    if shape is None:
        return torch.tensor(tuple(img.shape[-2:])).expand(img.shape[0], 2)
    shape = torch.as_tensor(shape).to(device="cpu", dtype=torch.int64)
    if tuple(shape.shape) != (img.shape[0], 2):
        raise ValueError(f"true_shape must be ({img.shape[0]}, 2), got {tuple(shape.shape)}")
    return shape


def _autocast_off(device: torch.device):
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return nullcontext()


def _pair(value: int | Sequence[int], field: str) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(f"{field} must be an int or a (height, width) pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


@register_model
class AsymmetricCroCo3DStereo(nn.Module):
    """The DUSt3R pair model; keyword arguments are the reference constructor's.

    Extra arguments: `dpt_feature_dim` and `dpt_layer_dims` (hard-coded 256 and [96, 192, 384, 768]
    in the reference) size the DPT head. `mask_ratio` is accepted for compatibility and unused.
    Only 2D RoPE position embeddings are supported (`pos_embed='RoPE<base>'`); 'cosine' is refused as
    in the reference, and 'none' (no positional information) exists to reproduce the multimodal seed.
    The constructor arguments, normalised, are kept in `self.config` (what `save_model` writes).
    """

    #: Reference defaults that differ from ours, applied when reading official constructor strings
    #: (CroCo's default `pos_embed` is the unsupported 'cosine').
    reference_defaults: ClassVar[dict[str, Any]] = {"pos_embed": "cosine"}
    #: The task that trains and evaluates this model (`recon3r.tasks`).
    task_name: ClassVar[str] = "pair"
    #: Constructor kwargs of a tiny CPU configuration (TINY_CONFIGS["tiny_linear"] as plain JSON), for
    #: registry-wide tests and smoke runs: 32×48 inputs in milliseconds.
    tiny_config: ClassVar[dict[str, Any]] = {
        "enc_embed_dim": 32, "enc_depth": 2, "enc_num_heads": 2, "dec_embed_dim": 32, "dec_depth": 2,
        "dec_num_heads": 2, "img_size": [32, 48], "head_type": "linear", "pos_embed": "RoPE100",
    }

    def __init__(
        self,
        output_mode: str = "pts3d",
        head_type: str = "linear",
        depth_mode: Sequence = ("exp", -inf, inf),
        conf_mode: Sequence | None = ("exp", 1, inf),
        freeze: str = "none",
        landscape_only: bool = True,
        patch_embed_cls: str = "PatchEmbedDust3R",
        img_size: int | Sequence[int] = 224,
        patch_size: int = 16,
        mask_ratio: float = 0.9,
        enc_embed_dim: int = 768,
        enc_depth: int = 12,
        enc_num_heads: int = 12,
        dec_embed_dim: int = 512,
        dec_depth: int = 8,
        dec_num_heads: int = 16,
        mlp_ratio: float = 4,
        norm_im2_in_dec: bool = True,
        pos_embed: str = "RoPE100",
        dpt_feature_dim: int = 256,
        dpt_layer_dims: Sequence[int] = (96, 192, 384, 768),
    ):
        super().__init__()
        img_size = _pair(img_size, "img_size")
        try:
            depth_mode = check_mode(depth_mode, DEPTH_MODES, "depth_mode")
            conf_mode = check_mode(conf_mode, CONF_MODES, "conf_mode", allow_none=True)
            rope = resolve_rope(pos_embed)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if output_mode != "pts3d":
            raise ConfigError(f"output_mode={output_mode!r} is not supported (only 'pts3d')")
        if head_type not in ("linear", "dpt"):
            raise ConfigError(f"head_type={head_type!r} is unknown (known: linear, dpt)")
        if freeze not in ("none", "mask", "encoder"):
            raise ConfigError(f"freeze={freeze!r} is unknown (known: none, mask, encoder)")
        if patch_embed_cls not in PATCH_EMBEDS:
            raise ConfigError(f"patch_embed_cls={patch_embed_cls!r} is unknown (known: {', '.join(PATCH_EMBEDS)})")
        if img_size[0] % patch_size or img_size[1] % patch_size:
            raise ConfigError(f"img_size={img_size} must be a multiple of patch_size={patch_size}")
        for field, dim, heads in (("enc", enc_embed_dim, enc_num_heads), ("dec", dec_embed_dim, dec_num_heads)):
            if dim % heads or (dim // heads) % 4:
                raise ConfigError(
                    f"{field}_embed_dim={dim} / {field}_num_heads={heads} must give a head dimension divisible by 4 (2D RoPE)"
                )
        dpt_layer_dims = tuple(int(d) for d in dpt_layer_dims)
        if head_type == "dpt":
            if patch_size != 16:
                raise ConfigError(f"the DPT head is wired for patch_size=16, got {patch_size}")
            if dec_depth < 3:
                raise ConfigError(f"the DPT head needs dec_depth >= 3 (the reference requires > 9), got {dec_depth}")
            if len(dpt_layer_dims) != 4:
                raise ConfigError(f"dpt_layer_dims must have four entries, got {list(dpt_layer_dims)}")

        self.config: dict[str, Any] = dict(
            output_mode=output_mode,
            head_type=head_type,
            depth_mode=depth_mode,
            conf_mode=conf_mode,
            freeze=freeze,
            landscape_only=bool(landscape_only),
            patch_embed_cls=patch_embed_cls,
            img_size=img_size,
            patch_size=patch_size,
            mask_ratio=mask_ratio,
            enc_embed_dim=enc_embed_dim,
            enc_depth=enc_depth,
            enc_num_heads=enc_num_heads,
            dec_embed_dim=dec_embed_dim,
            dec_depth=dec_depth,
            dec_num_heads=dec_num_heads,
            mlp_ratio=mlp_ratio,
            norm_im2_in_dec=bool(norm_im2_in_dec),
            pos_embed=pos_embed,
            dpt_feature_dim=dpt_feature_dim,
            dpt_layer_dims=dpt_layer_dims,
        )
        self.landscape_only = bool(landscape_only)
        self.patch_size = patch_size
        self.enc_embed_dim, self.enc_depth = enc_embed_dim, enc_depth
        self.dec_embed_dim, self.dec_depth = dec_embed_dim, dec_depth
        self.depth_mode, self.conf_mode = depth_mode, conf_mode

        # Registration order fixes the official state_dict order.
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_embed_dim))  # CroCo pre-training; unused
        self.patch_embed = make_patch_embed(patch_embed_cls, img_size, patch_size, enc_embed_dim)
        self.rope = rope
        self.enc_blocks = nn.ModuleList(
            [Block(enc_embed_dim, enc_num_heads, mlp_ratio, qkv_bias=True, rope=rope) for _ in range(enc_depth)]
        )
        self.enc_norm = layer_norm(enc_embed_dim)
        self.decoder_embed = nn.Linear(enc_embed_dim, dec_embed_dim)
        self.dec_blocks = nn.ModuleList(
            [
                DecoderBlock(dec_embed_dim, dec_num_heads, mlp_ratio, qkv_bias=True, norm_mem=norm_im2_in_dec, rope=rope)
                for _ in range(dec_depth)
            ]
        )
        self.dec_norm = layer_norm(dec_embed_dim)
        self._init_croco_weights()
        self.dec_blocks2 = copy.deepcopy(self.dec_blocks)
        self.downstream_head1 = self._make_head(head_type, dpt_feature_dim, dpt_layer_dims)
        self.downstream_head2 = self._make_head(head_type, dpt_feature_dim, dpt_layer_dims)
        self.set_freeze(freeze)

    # ---------------------------------------------------------------- construction helpers
    def _make_head(self, head_type: str, dpt_feature_dim: int, dpt_layer_dims: Sequence[int]) -> nn.Module:
        if head_type == "linear":
            return LinearPts3d(self.dec_embed_dim, self.patch_size, self.depth_mode, self.conf_mode)
        return PixelwiseTaskWithDPT(
            dec_depth=self.dec_depth,
            enc_embed_dim=self.enc_embed_dim,
            dec_embed_dim=self.dec_embed_dim,
            depth_mode=self.depth_mode,
            conf_mode=self.conf_mode,
            patch_size=self.patch_size,
            feature_dim=dpt_feature_dim,
            layer_dims=dpt_layer_dims,
        )

    def _init_croco_weights(self) -> None:
        """CroCo's initialisation of the encoder/decoder (heads keep PyTorch's defaults, as in the reference)."""
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.mask_token, std=0.02)
        for module in [*self.enc_blocks.modules(), self.enc_norm, self.decoder_embed, *self.dec_blocks.modules(), self.dec_norm]:
            init_transformer_weights(module)

    def set_freeze(self, freeze: str) -> None:
        """'none': train everything; 'mask': freeze `mask_token`; 'encoder': also the patch embedding and encoder blocks."""
        frozen = {"none": [], "mask": [self.mask_token], "encoder": [self.mask_token, self.patch_embed, self.enc_blocks]}
        if freeze not in frozen:
            raise ConfigError(f"freeze={freeze!r} is unknown (known: {', '.join(frozen)})")
        for item in frozen[freeze]:
            params = [item] if isinstance(item, nn.Parameter) else list(item.parameters())
            for p in params:
                p.requires_grad_(False)

    def filter_state_dict(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        """Map accepted spellings of a checkpoint onto this model's names (`checkpoint_filter_fn`)."""
        return checkpoint_filter_fn(state_dict, self)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Load official-named weights; see `checkpoint_filter_fn` for the accepted variants."""
        return super().load_state_dict(self.filter_state_dict(state_dict), strict=strict, assign=assign)

    # ---------------------------------------------------------------- forward
    def forward(self, view1: View, view2: View) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        return self.forward_encoded(view1, view2, self.encode_pair(view1, view2))

    def forward_encoded(
        self, view1: View, view2: View, enc: PairEncoding
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Decoder and heads on an encoding of the pairs (`forward` without `encode_pair`).

        Batched pair inference (`recon3r.inference.run_pairs`) encodes every image of a pair graph
        once with `encode_image`, builds the `PairEncoding` of each batch from those tokens and
        calls this; `view1`/`view2` carry whatever else a subclass reads (captions).
        """
        dec1, dec2 = self.decode(enc.feat1, enc.pos1, enc.feat2, enc.pos2)
        return self.heads(dec1, dec2, enc.shape1, enc.shape2)

    def encode_image(self, img: torch.Tensor, true_shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """img (B, 3, H, W), true_shape (B, 2) → tokens (B, N, enc_dim) after `enc_norm`, positions (B, N, 2)."""
        x, pos = self.patch_embed(img, true_shape=true_shape)
        table = self.rope.table(pos, self.enc_blocks[0].attn.head_dim) if len(self.enc_blocks) else None
        for block in self.enc_blocks:
            x = block(x, table)
        return self.enc_norm(x), pos

    def encode_images(
        self, img1: torch.Tensor, img2: torch.Tensor, shape1: torch.Tensor, shape2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode both views, as one batch when their tensors have the same H×W. Returns feat1, feat2, pos1, pos2."""
        if img1.shape[-2:] == img2.shape[-2:]:
            feat, pos = self.encode_image(torch.cat((img1, img2)), torch.cat((shape1, shape2)))
            feat1, feat2 = feat.chunk(2)
            pos1, pos2 = pos.chunk(2)
            return feat1, feat2, pos1, pos2
        feat1, pos1 = self.encode_image(img1, shape1)
        feat2, pos2 = self.encode_image(img2, shape2)
        return feat1, feat2, pos1, pos2

    def encode_pair(self, view1: View, view2: View) -> PairEncoding:
        """Encode a batch of pairs, encoding each image of a symmetrized batch only once."""
        img1, img2 = view1["img"], view2["img"]
        if img1.shape[0] != img2.shape[0]:
            raise ValueError(f"the two views have different batch sizes: {img1.shape[0]} and {img2.shape[0]}")
        shape1, shape2 = true_shape_of(view1), true_shape_of(view2)
        if is_symmetrized(view1, view2):
            feat1, feat2, pos1, pos2 = self.encode_images(img1[::2], img2[::2], shape1[::2], shape2[::2])
            feat1, feat2 = interleave(feat1, feat2)
            pos1, pos2 = interleave(pos1, pos2)
        else:
            feat1, feat2, pos1, pos2 = self.encode_images(img1, img2, shape1, shape2)
        return PairEncoding(feat1, feat2, pos1, pos2, shape1, shape2)

    def decode(
        self,
        feat1: torch.Tensor,
        pos1: torch.Tensor,
        feat2: torch.Tensor,
        pos2: torch.Tensor,
        extra1: torch.Tensor | None = None,
        extra2: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Run the two cross-attending decoders.

        feat_i (B, N_i, enc_dim) and pos_i (B, N_i, 2) come from the encoder. `extra_i` (B, K, dec_dim),
        optional, are tokens appended to stream i after `decoder_embed` with no image position
        (RoPE leaves them unrotated); they take part in attention but are dropped from the output.
        Returns, per view, the list the heads read: [encoder tokens, block 1, ..., block D-1,
        dec_norm(block D)], each (B, N_i, C) with patch tokens only.
        """
        out1, out2 = [feat1], [feat2]
        n1, n2 = feat1.shape[1], feat2.shape[1]
        f1, f2 = self.decoder_embed(feat1), self.decoder_embed(feat2)
        f1, pos1 = _append_unplaced(f1, pos1, extra1)
        f2, pos2 = _append_unplaced(f2, pos2, extra2)
        head_dim = self.dec_blocks[0].attn.head_dim if len(self.dec_blocks) else 4
        rope1, rope2 = self.rope.table(pos1, head_dim), self.rope.table(pos2, head_dim)
        for layer in range(len(self.dec_blocks)):
            f1, f2 = self.decode_layer(layer, f1, f2, rope1, rope2)
            out1.append(f1[:, :n1])
            out2.append(f2[:, :n2])
        out1[-1] = self.dec_norm(out1[-1])
        out2[-1] = self.dec_norm(out2[-1])
        return out1, out2

    def decode_layer(
        self, layer: int, f1: torch.Tensor, f2: torch.Tensor, rope1: RotaryTable, rope2: RotaryTable
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoder layer: both streams update from the previous layer's pair (not sequentially)."""
        new1 = self.dec_blocks[layer](f1, f2, rope1, rope2)
        new2 = self.dec_blocks2[layer](f2, f1, rope2, rope1)
        return new1, new2

    def heads(
        self, dec1: list[torch.Tensor], dec2: list[torch.Tensor], shape1: torch.Tensor, shape2: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Pointmap heads, in float (autocast off, tokens cast to the head's dtype), per true orientation."""
        dtype = next(self.downstream_head1.parameters()).dtype
        with _autocast_off(dec1[-1].device):
            res1 = self.run_head(self.downstream_head1, [t.to(dtype) for t in dec1], shape1)
            res2 = self.run_head(self.downstream_head2, [t.to(dtype) for t in dec2], shape2)
        res2["pts3d_in_other_view"] = res2.pop("pts3d")
        return res1, res2

    def run_head(self, head: nn.Module, tokens: list[torch.Tensor], true_shape: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run one head with the landscape/portrait handling chosen by `landscape_only`."""
        return apply_head(head, tokens, true_shape, landscape_only=self.landscape_only)


def _append_unplaced(
    tokens: torch.Tensor, pos: torch.Tensor, extra: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    if extra is None:
        return tokens, pos
    if extra.ndim != 3 or extra.shape[0] != tokens.shape[0] or extra.shape[2] != tokens.shape[2]:
        raise ValueError(f"extra tokens must be (B, K, {tokens.shape[2]}), got {tuple(extra.shape)}")
    unplaced = pos.new_full((pos.shape[0], extra.shape[1], 2), -1)
    return torch.cat((tokens, extra.to(tokens.dtype)), dim=1), torch.cat((pos, unplaced), dim=1)


def checkpoint_filter_fn(state_dict: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """Map the accepted spellings of a DUSt3R state dict onto `model`'s names (pure: returns a new dict).

    - A DPT `scratch.layer{N}_rn.weight` / `scratch.layer_rn.{N-1}.weight` present under only one of
      its two official names is copied to the other (hub safetensors files keep only one).
    - A checkpoint with `dec_blocks.*` but no `dec_blocks2.*` (a CroCo initialisation) gets
      `dec_blocks2.*` as a copy of `dec_blocks.*`, as the reference's `load_state_dict` does.
    """
    out = dict(state_dict)
    expected = set(model.state_dict().keys())
    for name in list(out):
        alias = dpt_alias(name)
        if alias is not None and alias not in out and alias in expected:
            out[alias] = out[name]
    if not any(k.startswith("dec_blocks2.") for k in out):
        for name, value in state_dict.items():
            if name.startswith("dec_blocks."):
                out["dec_blocks2." + name[len("dec_blocks.") :]] = value
    return out


# ---------------------------------------------------------------- configs of the released checkpoints
_VITL_BASEDEC = dict(
    pos_embed="RoPE100",
    output_mode="pts3d",
    depth_mode=("exp", -inf, inf),
    conf_mode=("exp", 1, inf),
    enc_embed_dim=1024,
    enc_depth=24,
    enc_num_heads=16,
    dec_embed_dim=768,
    dec_depth=12,
    dec_num_heads=12,
)

#: Constructor kwargs of the three released DUSt3R checkpoints, as written in their training args.
OFFICIAL_CONFIGS: dict[str, dict[str, Any]] = {
    "DUSt3R_ViTLarge_BaseDecoder_224_linear": dict(_VITL_BASEDEC, img_size=(224, 224), head_type="linear"),
    "DUSt3R_ViTLarge_BaseDecoder_512_linear": dict(
        _VITL_BASEDEC, patch_embed_cls="ManyAR_PatchEmbed", img_size=(512, 512), head_type="linear"
    ),
    "DUSt3R_ViTLarge_BaseDecoder_512_dpt": dict(
        _VITL_BASEDEC, patch_embed_cls="ManyAR_PatchEmbed", img_size=(512, 512), head_type="dpt"
    ),
}

#: Tiny configurations (random weights) for tests, examples and CPU smoke runs: 32×48 inputs run in milliseconds.
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny_linear": dict(
        enc_embed_dim=32,
        enc_depth=2,
        enc_num_heads=2,
        dec_embed_dim=32,
        dec_depth=2,
        dec_num_heads=2,
        img_size=(32, 48),
        head_type="linear",
        pos_embed="RoPE100",
        depth_mode=("exp", -inf, inf),
        conf_mode=("exp", 1, inf),
    ),
    "tiny_dpt": dict(
        enc_embed_dim=32,
        enc_depth=2,
        enc_num_heads=2,
        dec_embed_dim=16,
        dec_depth=4,
        dec_num_heads=2,
        img_size=(32, 48),
        head_type="dpt",
        patch_embed_cls="ManyAR_PatchEmbed",
        pos_embed="RoPE100",
        depth_mode=("exp", -inf, inf),
        conf_mode=("exp", 1, inf),
        dpt_feature_dim=16,
        dpt_layer_dims=(4, 8, 8, 16),
    ),
}
