"""Initialise a model from a DUSt3R, CroCo, OpenLRM or recon3r checkpoint (`--pretrained`).

Accepted files:
- a DUSt3R `.pth` (`{"model": state_dict, "args": Namespace(model="AsymmetricCroCo3DStereo(...)"), ...}`),
  or a bare state dict;
- a released CroCo v2 `.pth` such as `CroCo_V2_ViTLarge_BaseDecoder.pth`: `model` (CroCoNet's state
  dict: `patch_embed`, `mask_token`, `enc_blocks`, `enc_norm`, `decoder_embed`, `dec_blocks`,
  `dec_norm`, `prediction_head`) with its architecture under `croco_kwargs` (a dict) and/or `args`
  (the pre-training Namespace, whose `model` is `"CroCoNet(enc_embed_dim=..., ...)"`). Its single
  decoder initialises both of DUSt3R's (`dec_blocks` is copied into `dec_blocks2`, as DUSt3R's
  `load_state_dict` does); `prediction_head` (CroCo's reconstruction head) is ignored;
- a recon3r `model.safetensors` or a folder holding one, e.g. a training run's `checkpoint-best/`.
  DUSt3R names those files `checkpoint-best.pth`: a missing `X.pth` next to a folder `X/` means it;
- a released folder of another project that `recon3r.load_model` reads (OpenLRM's
  `openlrm-{obj,mix}-{small,base,large}-1.1`: a flat `config.json` of ModelLRM kwargs + `model.safetensors`).

The target model's `filter_state_dict` maps other models' names onto its own: a DUSt3R checkpoint
initialises a Point3R model (its stage 1) through `recon3r.models.point3r.checkpoint_filter_fn`.

`.pth` files are read with the restricted unpickler (tensors, containers, `argparse.Namespace`),
and architecture strings are parsed with `ast`, never `eval`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from recon3r.errors import CheckpointError
from recon3r.models.checkpoint import WEIGHTS_NAME, read_weights, resolve_checkpoint_path

#: CroCoNet's constructor defaults, for `croco_kwargs` / `args.model` that leave some out.
CROCO_DEFAULTS: dict[str, Any] = dict(
    img_size=224, patch_size=16, enc_embed_dim=768, enc_depth=12, enc_num_heads=12, dec_embed_dim=512,
    dec_depth=8, dec_num_heads=16, mlp_ratio=4, norm_im2_in_dec=True, pos_embed="cosine",
)
# Architecture arguments that must agree: the same tensor shapes could otherwise mean different models.
_MUST_MATCH = ("patch_size", "enc_embed_dim", "enc_num_heads", "dec_embed_dim", "dec_num_heads")


def read_pretrained(path: str | Path) -> tuple[dict[str, torch.Tensor], str, dict[str, Any] | None]:
    """(state dict, what the file is, CroCo architecture or None) of a checkpoint (module docstring)."""
    path = resolve_checkpoint_path(path)
    state_dict, ckpt = read_weights(path)
    if ckpt is None:
        weights = path / WEIGHTS_NAME if path.is_dir() else path
        return state_dict, describe_weights_folder(weights.parent), None
    kind, croco = _describe(ckpt, path)
    return state_dict, kind, croco


def describe_weights_folder(folder: Path) -> str:
    """What the config.json beside a model.safetensors says it is (for the report): a recon3r model folder,
    a released folder of another project (OpenLRM), or bare weights when there is no readable config."""
    import json

    from recon3r.errors import Recon3rError
    from recon3r.models.checkpoint import CONFIG_NAME, read_config

    config_path = folder / CONFIG_NAME
    try:
        config = json.loads(config_path.read_text())
        name, _ = read_config(config, str(config_path))
    except (OSError, ValueError, Recon3rError):
        return "recon3r weights"
    own = isinstance(config.get("class"), str) and set(config) <= {"class", "kwargs"}
    return f"recon3r {name} folder" if own else f"released {name} folder"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of a `.pth` (DUSt3R or CroCo, read without running pickled code) or a safetensors folder/file."""
    return read_weights(resolve_checkpoint_path(path))[0]


def _describe(ckpt: Any, path: Path) -> tuple[str, dict[str, Any] | None]:
    """What a `.pth` is, and its CroCo architecture (with CroCoNet's defaults filled in) if it is CroCo's."""
    if not isinstance(ckpt, Mapping):
        return "state dict", None
    model_string = getattr(ckpt.get("args"), "model", None)
    if isinstance(ckpt.get("croco_kwargs"), Mapping):
        return "CroCo v2 release", {**CROCO_DEFAULTS, **ckpt["croco_kwargs"]}
    if isinstance(model_string, str) and model_string.strip().startswith("CroCoNet("):
        from recon3r.errors import ConfigError
        from recon3r.utils.spec import parse_spec

        try:
            kwargs = parse_spec(model_string, {"CroCoNet": lambda **kw: kw}, what="CroCo model")
        except ConfigError as err:
            raise CheckpointError(f"{path}: unreadable args.model of a CroCo checkpoint: {err}") from None
        return "CroCo pre-training checkpoint", {**CROCO_DEFAULTS, **kwargs}
    if isinstance(model_string, str):
        return f"training checkpoint of {model_string.split('(')[0].strip()}", None
    return "state dict" if "model" not in ckpt else "checkpoint", None


def _check_croco_architecture(model: torch.nn.Module, croco: Mapping[str, Any], path: str | Path) -> None:
    config = getattr(model, "config", None)
    if not isinstance(config, Mapping):
        return
    wrong = [f"{k}={croco[k]!r} (model: {config[k]!r})" for k in _MUST_MATCH if k in config and croco.get(k) != config[k]]
    if wrong:
        raise CheckpointError(
            f"{path}: the CroCo checkpoint's architecture differs from {type(model).__name__}'s: {', '.join(wrong)}; "
            "set the same values in --model"
        )


def load_pretrained(model: torch.nn.Module, path: str | Path) -> dict[str, Any]:
    """Copy every weight whose name and shape match; report what was loaded, new, ignored.

    The model's own `filter_state_dict` maps upstream spellings first (for DUSt3R: DPT aliases,
    and a CroCo decoder copied into both decoders; for Point3R: DUSt3R's names, see its
    `checkpoint_filter_fn`). A checkpoint that shares no weight at all
    with the model is an error, not a silent no-op, and so is a CroCo checkpoint whose widths,
    head counts or patch size differ from the model's.

    Returns `loaded` (model names set from the file), `copied` (those filled from another
    checkpoint name: `dec_blocks2.*` from CroCo's `dec_blocks.*`), `missing` (new: model names
    left at their initial values; DUSt3R's `missing_keys`), `unexpected` (ignored checkpoint
    names; DUSt3R's `unexpected_keys`), `shape_mismatch` (ignored: same name, other shape),
    `source` (what the file is) and `croco` (its CroCo architecture, or None).
    """
    raw, source, croco = read_pretrained(path)
    if croco is not None:
        _check_croco_architecture(model, croco, path)
    filter_fn = getattr(model, "filter_state_dict", None)
    state_dict = filter_fn(raw) if callable(filter_fn) else raw
    own = model.state_dict()
    usable = {k: v for k, v in state_dict.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not usable:
        raise CheckpointError(f"{path}: no weight matches {type(model).__name__} by name and shape")
    model.load_state_dict(usable, strict=False)
    return {
        "loaded": sorted(usable),
        "copied": sorted(k for k in usable if k not in raw),
        "missing": sorted(set(own) - set(usable)),
        "unexpected": sorted(set(state_dict) - set(own)),
        "shape_mismatch": sorted(k for k in state_dict if k in own and k not in usable),
        "source": source,
        "croco": croco,
    }


def format_pretrained_report(path: str | Path, report: Mapping[str, Any], limit: int = 8) -> str:
    """The `load_pretrained` report as DUSt3R prints it: what was loaded, then missing and unexpected keys."""
    def names(keys: list[str]) -> str:
        shown = ", ".join(keys[:limit])
        return f"[{shown}{', ...' if len(keys) > limit else ''}]"

    what = report.get("source", "checkpoint")
    if report.get("croco"):
        args = ", ".join(f"{k}={v!r}" for k, v in report["croco"].items() if k in CROCO_DEFAULTS)
        what += f": CroCoNet({args})"
    copied = report.get("copied", [])
    lines = [
        f"pretrained {path} ({what})",
        f"  loaded {len(report['loaded'])} tensors"
        + (f", of which {len(copied)} filled from another name ({module_groups(copied)})" if copied else ""),
        f"  new, left at their initial values (missing_keys, {len(report['missing'])}): "
        + (module_groups(report["missing"]) or "none"),
        f"  ignored (unexpected_keys, {len(report['unexpected'])}): {names(report['unexpected'])}",
    ]
    if report.get("shape_mismatch"):
        lines.append(f"  ignored, other shape ({len(report['shape_mismatch'])}): {names(report['shape_mismatch'])}")
    return "\n".join(lines)


def module_groups(keys: list[str]) -> str:
    """Parameter names summarised by module: "dec_blocks2 (96), downstream_head.dpt_self (68), pose_token (1)".

    A group is the name's first part, or its first two when the second names a sub-module with its
    own sub-modules (`pose_retriever.read_blocks.0.attn.qkv.weight` → `pose_retriever.read_blocks`).
    """
    counts: dict[str, int] = {}
    for key in keys:
        parts = key.split(".")
        group = ".".join(parts[:2]) if len(parts) > 3 and not parts[1].isdigit() else parts[0]
        counts[group] = counts.get(group, 0) + 1
    return ", ".join(f"{group} ({count})" for group, count in counts.items())
