"""Atomic training checkpoints: safetensors weights + trainer state, no pickles.

Layout of `<output_dir>/checkpoint-last/` (and `checkpoint-best/`, `checkpoint-<epoch>/`):
- `model.safetensors`, `config.json`: the model, loadable with `recon3r.load_model`;
- `trainer_state.safetensors`: optimizer tensors (`optimizer/<param>/<name>`), grad-scaler
  and RNG states as tensors;
- `trainer_state.json`: epoch, step, best loss, optimizer hyper-parameters, numpy/python RNG;
- `train_config.json`: the `TrainConfig` of the run.

A checkpoint is written into a temporary folder and renamed into place, so a run killed
mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from recon3r.errors import CheckpointError

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"


def save_training_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: dict[str, Any],
    config: Any,
    scaler: torch.amp.GradScaler | None = None,
) -> Path:
    """Write model + optimizer + RNG + `progress` (epoch, step, ...) atomically to `directory`."""
    from recon3r.models.checkpoint import save_model

    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp)
    tensors, optimizer_meta = _flatten_optimizer(optimizer)
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda{index}"] = state
    if scaler is not None and scaler.is_enabled():
        for key, value in scaler.state_dict().items():
            tensors[f"scaler/{key}"] = torch.as_tensor(value)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / STATE_TENSORS))
    meta = {
        "progress": progress,
        "optimizer": optimizer_meta,
        "rng_numpy": _numpy_state_to_json(np.random.get_state()),
        "rng_python": _python_state_to_json(random.getstate()),
    }
    (tmp / STATE_JSON).write_text(json.dumps(meta, indent=1))
    (tmp / "train_config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def find_resumable_checkpoint(output_dir: str | Path) -> Path | None:
    """`checkpoint-last` if complete; the previous one if a run died between the two renames."""
    output_dir = Path(output_dir)
    for candidate in (output_dir / "checkpoint-last", output_dir / ".checkpoint-last.old"):
        if (candidate / STATE_JSON).is_file() and (candidate / STATE_TENSORS).is_file():
            return candidate
    return None


def load_training_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, Any]:
    """Restore model, optimizer, scaler and RNG states in place; returns the saved `progress`."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / STATE_JSON).read_text())
        tensors = load_file(str(directory / STATE_TENSORS))
        weights = load_file(str(directory / "model.safetensors"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot read training checkpoint {directory}: {err}") from err
    try:
        # In place (not assign=True): the optimizer keeps referring to these same parameters.
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{directory}: weights do not match the model being trained: {err}") from None
    optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"], optimizer))
    if scaler is not None and scaler.is_enabled():
        scaler_state = {k.split("/", 1)[1]: v.item() for k, v in tensors.items() if k.startswith("scaler/")}
        if scaler_state:
            scaler.load_state_dict(scaler_state)
    torch.set_rng_state(tensors["rng/torch"])
    if torch.cuda.is_available():
        cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda")]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
    np.random.set_state(_numpy_state_from_json(meta["rng_numpy"]))
    random.setstate(_python_state_from_json(meta["rng_python"]))
    return meta["progress"]


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, param_state in state_dict["state"].items():
        for name, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer/{param_id}/{name}"] = value.detach().cpu()
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any], optimizer) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, param_id, name = key.split("/", 2)
            state.setdefault(int(param_id), {})[name] = value
    for param_id, values in meta["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    groups = meta["param_groups"]
    if len(groups) != len(optimizer.param_groups) or any(
        len(saved["params"]) != len(current["params"]) for saved, current in zip(groups, optimizer.param_groups)
    ):
        raise CheckpointError("the checkpoint's optimizer does not match this model's trainable parameters")
    return {"state": state, "param_groups": groups}


def _numpy_state_to_json(state: tuple) -> list:
    name, keys, pos, has_gauss, cached = state
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _numpy_state_from_json(values: list) -> tuple:
    name, keys, pos, has_gauss, cached = values
    return name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached


def _python_state_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_state_from_json(values: list) -> tuple:
    version, internal, gauss = values
    return version, tuple(internal), gauss
