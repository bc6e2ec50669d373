"""Initialise a model from a DUSt3R or CroCo checkpoint (`--pretrained`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from recon3r.errors import CheckpointError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of a `.pth` (DUSt3R or CroCo, read without running pickled code) or a safetensors folder/file."""
    from recon3r.models.checkpoint import WEIGHTS_NAME, restricted_torch_load, strip_prefix

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"pretrained checkpoint not found: {path}")
    if path.is_dir() or path.suffix == ".safetensors":
        from safetensors.torch import load_file

        weights = path / WEIGHTS_NAME if path.is_dir() else path
        if not weights.is_file():
            raise CheckpointError(f"{path}: no {WEIGHTS_NAME} found")
        return load_file(str(weights))
    ckpt = restricted_torch_load(path)
    state_dict = ckpt.get("model", ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state_dict, Mapping) or not all(torch.is_tensor(v) for v in state_dict.values()):
        raise CheckpointError(f"{path}: expected a state dict (or a dict with 'model'), got {type(ckpt).__name__}")
    return strip_prefix(dict(state_dict))


def load_pretrained(model: torch.nn.Module, path: str | Path) -> dict[str, list[str]]:
    """Copy every weight whose name and shape match; return what was missing, unexpected or reshaped.

    The model's own `filter_state_dict` maps upstream spellings first (for DUSt3R: DPT aliases,
    and a CroCo decoder copied into both decoders). A checkpoint that shares no weight at all
    with the model is an error, not a silent no-op.
    """
    state_dict = read_state_dict(path)
    filter_fn = getattr(model, "filter_state_dict", None)
    if callable(filter_fn):
        state_dict = filter_fn(state_dict)
    own = model.state_dict()
    usable = {k: v for k, v in state_dict.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not usable:
        raise CheckpointError(f"{path}: no weight matches {type(model).__name__} by name and shape")
    model.load_state_dict(usable, strict=False)
    return {
        "loaded": sorted(usable),
        "missing": sorted(set(own) - set(usable)),
        "unexpected": sorted(set(state_dict) - set(own)),
        "shape_mismatch": sorted(k for k in state_dict if k in own and k not in usable),
    }
