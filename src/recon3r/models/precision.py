"""Reduced-precision inference: the transformer's matrix products in bfloat16 (or float16), the rest float32.

`set_inference_dtype(model, torch.bfloat16)` casts the weights of the `nn.Linear` layers inside a
model's transformer block stacks once, in place, and gives each of those layers a forward pre-hook
that casts its input to the layer's dtype. Everything else keeps float32: the patch embedding, every
LayerNorm (so the residual stream, the final `enc_norm` / `dec_norm` and the heads' inputs stay
float32), the heads (`exp` depth, confidence), memories and position embeddings. This is not
autocast: no weight is re-cast per call, and only the activations entering a cast layer change dtype.

Which layers are cast: `model.reduced_precision_modules()` when the model defines it, else the
default rule `transformer_stacks`: every direct `nn.ModuleList` child of the model made of
transformer blocks (`Block`, `DecoderBlock`, `ModulatedBlock`), except the last block of each stack
of `DecoderBlock`s, which feeds the heads directly and is where rounding costs the most accuracy
(random-weight ViT-L: 1.2 % → 0.7 % pointmap error for 6 % of the speed). Nested stacks (inside
heads, pose retrievers) are left in float32.

`head_dtype` (opt-in, float32 by default) does the same for the convolutions of every DPT head
(`DPTAdapter`): their weights are cast once and their maps stay in that dtype from the token
reshaping to the last hidden layer; the output convolution (to 3 + 1 channels) keeps float32 weights
and casts its input back, so `exp` depth and confidence are computed in float32. At 512×384 these
convolutions run at the float32 matrix-product peak and take about 40 % of a bfloat16 ViT-L/B
pair's time: casting them makes that pair about 1.25× faster on the CPU, for more rounding error
(random-weight ViT-L/B DPT pointmaps: 1.1 % → 1.2–1.4 % from float32; benchmarks/README.md), hence
not the default.

float16 is refused on the CPU (no fast float16 matrix products there); use bfloat16.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from recon3r.errors import ConfigError
from recon3r.models.heads.dpt import DPTAdapter
from recon3r.models.layers.blocks import Block, DecoderBlock, ModulatedBlock

#: Inference dtypes by their command-line name.
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

_BLOCKS = (Block, DecoderBlock, ModulatedBlock)
_HOOK_ATTR = "_recon3r_cast_hook"


def parse_dtype(value: str | torch.dtype | None, *, flag: str = "--dtype") -> torch.dtype:
    """A torch dtype from a name ('float32', 'bfloat16', 'float16', also 'bf16', 'fp16', 'fp32') or a
    dtype; None is float32. ConfigError naming the value otherwise."""
    if value is None:
        return torch.float32
    if isinstance(value, torch.dtype):
        if value not in DTYPES.values():
            raise ConfigError(f"{flag} must be one of {', '.join(DTYPES)}, got {value}")
        return value
    text = str(value).strip().lower().removeprefix("torch.")
    text = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}.get(text, text)
    if text not in DTYPES:
        raise ConfigError(f"{flag} must be one of {', '.join(DTYPES)}, got {value!r}")
    return DTYPES[text]


def check_dtype_for_device(dtype: torch.dtype, device: torch.device | str, *, flag: str = "--dtype") -> None:
    """ConfigError for float16 on the CPU (bfloat16 is the CPU's reduced precision)."""
    if dtype == torch.float16 and torch.device(device).type == "cpu":
        raise ConfigError(f"{flag} float16 needs an accelerator; on the CPU use {flag} bfloat16")


def transformer_stacks(model: nn.Module) -> list[nn.Module]:
    """The default set of modules to run in reduced precision (see the module docstring)."""
    chosen: list[nn.Module] = []
    for child in model.children():
        if not isinstance(child, nn.ModuleList) or len(child) == 0:
            continue
        if not all(isinstance(block, _BLOCKS) for block in child):
            continue
        blocks = list(child)
        if all(isinstance(block, DecoderBlock) for block in blocks):
            blocks = blocks[:-1]
        chosen.extend(blocks)
    return chosen


def reduced_precision_modules(model: nn.Module) -> list[nn.Module]:
    """The modules whose Linear layers `set_inference_dtype` casts: the model's own choice or the default."""
    own = getattr(model, "reduced_precision_modules", None)
    return list(own()) if callable(own) else transformer_stacks(model)


def dpt_head_layers(model: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """(layers `head_dtype` casts, output layers kept float32) over every `DPTAdapter` in `model`:
    all convolutions of each adapter except its last one, and that last one."""
    cast, kept = [], []
    for adapter in model.modules():
        if isinstance(adapter, DPTAdapter):
            convs = [m for m in adapter.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
            output = adapter.head[-1]
            cast.extend(m for m in convs if m is not output)
            kept.append(output)
    return cast, kept


def _cast_input(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    dtype = module.weight.dtype
    if args and isinstance(args[0], torch.Tensor) and args[0].is_floating_point() and args[0].dtype != dtype:
        return (args[0].to(dtype), *args[1:])
    return None


def _linears(modules: Iterable[nn.Module]) -> list[nn.Linear]:
    seen, out = set(), []
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.Linear) and id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
    return out


def _set_layers(layers: Iterable[nn.Module], dtype: torch.dtype, *, hooked: bool) -> None:
    """Cast each layer's parameters to `dtype`; give it the input-casting hook when `hooked`, else remove it."""
    for layer in layers:
        layer.to(dtype)
        handle = getattr(layer, _HOOK_ATTR, None)
        if not hooked and handle is not None:
            handle.remove()
            delattr(layer, _HOOK_ATTR)
        elif hooked and handle is None:
            setattr(layer, _HOOK_ATTR, layer.register_forward_pre_hook(_cast_input))


def set_inference_dtype(model: nn.Module, dtype: str | torch.dtype | None, *,
                        head_dtype: str | torch.dtype | None = None) -> nn.Module:
    """Run `model`'s transformer blocks' matrix products in `dtype` and its DPT heads' convolutions in
    `head_dtype` (see the module docstring); in place.

    float32 (or None) restores float32 weights and removes the casts, for either part. Calling it again
    with the same dtypes changes nothing. Returns the model. Raises ConfigError for an unknown dtype, or
    float16 on a model whose parameters live on the CPU.
    """
    dtype = parse_dtype(dtype)
    head_dtype = parse_dtype(head_dtype, flag="--head-dtype")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    check_dtype_for_device(dtype, device)
    check_dtype_for_device(head_dtype, device, flag="--head-dtype")
    reduced = dtype != torch.float32
    _set_layers(_linears(reduced_precision_modules(model)), dtype, hooked=reduced)
    cast, kept = dpt_head_layers(model)
    reduced_head = head_dtype != torch.float32
    _set_layers(cast, head_dtype, hooked=reduced_head)
    _set_layers(kept, torch.float32, hooked=reduced_head)  # casts the reduced maps back to float32
    return model


def inference_dtype(model: nn.Module) -> torch.dtype:
    """The transformer dtype `set_inference_dtype` last gave `model` (float32 when it was never called)."""
    for layer in _linears(reduced_precision_modules(model)):
        return layer.weight.dtype
    return torch.float32


def head_inference_dtype(model: nn.Module) -> torch.dtype:
    """The DPT-head dtype `set_inference_dtype` last gave `model` (float32 without DPT heads)."""
    cast, _ = dpt_head_layers(model)
    return cast[0].weight.dtype if cast else torch.float32
