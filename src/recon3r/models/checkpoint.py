"""Load and save pair-model checkpoints without evaluating any code.

Two formats are read by `load_model(path, device)`:

(a) An official DUSt3R training checkpoint (`.pth`): a pickled dict with `model` (the state dict)
    and `args` (an `argparse.Namespace` whose `.model` is a constructor string such as
    "AsymmetricCroCo3DStereo(pos_embed='RoPE100', img_size=(512, 512), head_type='dpt', ...)").
    The pickle is read by torch's restricted `weights_only` unpickler, which admits tensors,
    storages, plain containers and (added here) `argparse.Namespace`, and refuses everything else
    before anything runs. The constructor string is parsed with `recon3r.utils.spec.parse_spec`
    against the model registry: known class names and literal arguments only.
    Convention: like the reference's own loader, an official checkpoint is built in its inference
    layout, `patch_embed_cls='PatchEmbedDust3R'` and `landscape_only=False` (so portrait images
    given in their true layout give portrait outputs); `keep_training_layout=True` keeps the
    string verbatim.

(b) `model.safetensors` + `config.json` in one folder (pass the folder or either file).
    `config.json` is `{"class": name, "kwargs": {...}}` with infinities as "inf"/"-inf" and tuples
    as lists. The config is honoured verbatim. `save_model` writes this format.
    Other projects' released folders load unchanged when a model registers a reader of their
    config.json in `FOREIGN_CONFIG_READERS` (OpenLRM: the flat `ModelLRM` kwargs); a folder with
    `pytorch_model.bin` instead of safetensors is read with the restricted unpickler.

Missing or unexpected parameter names raise `CheckpointError` listing them.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recon3r.errors import CheckpointError, ConfigError
from recon3r.models.registry import check_kwargs, get_model_class, list_models

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
PICKLED_WEIGHTS_NAME = "pytorch_model.bin"  # huggingface_hub's older weight file: a pickled state dict

#: Readers of other projects' config.json layouts: class name → "module:function". The function
#: takes the parsed JSON and returns that class's constructor kwargs, or None when the layout is
#: not its own (it may raise ConfigError for a recognised but malformed one). Imported on demand.
FOREIGN_CONFIG_READERS: dict[str, str] = {
    "ModelLRM": "recon3r.models.lrm:openlrm_config_kwargs",
}

# Restricted pickle: the only globals admitted beyond torch's weights_only defaults.
_SAFE_PICKLE_GLOBALS = [argparse.Namespace]


# ---------------------------------------------------------------- public API
def load_model(path: str | Path, device: str | torch.device = "cpu", *, expect: str | None = None,
               config: str | Path | None = None) -> nn.Module:
    """Load a model from an official `.pth` or a `model.safetensors` + `config.json` folder.

    Returns the model in eval mode on `device` ("auto" picks an available accelerator), float32
    (the checkpoint's floating tensors are cast). `expect`: a registered class name; a checkpoint
    of another class is refused with a CheckpointError before anything is built. `config`: a
    config.json to use instead of the one beside the weights (`path` is then the weights file or
    their folder).
    """
    from recon3r.utils.device import resolve_device

    target = resolve_device(device)
    name, kwargs, state_dict, source = read_checkpoint(path, config=config)
    if expect is not None and name != expect:
        raise CheckpointError(f"{path} holds a {name} model, not the {expect} model needed here")
    model = build_loaded_model(name, kwargs, state_dict, source)
    return model.to(target).eval()


def save_model(model: nn.Module, out_dir: str | Path) -> Path:
    """Write `model` as `out_dir/model.safetensors` + `out_dir/config.json`; returns `out_dir`.

    The model must be registered and carry its constructor kwargs in `model.config`. Tensors that
    are a second name for another (DPT `layer_rn.{i}`) are written once; `load_model` restores them.
    """
    from safetensors.torch import save_file

    from recon3r.models.heads.dpt import is_secondary_dpt_alias

    name = type(model).__name__
    if get_model_class(name) is not type(model):
        raise CheckpointError(f"{name} is not a registered model class; register it with @register_model")
    config = getattr(model, "config", None)
    if not isinstance(config, Mapping):
        raise CheckpointError(f"{name} has no `config` dict of constructor kwargs to save")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    seen_storages: set[tuple[torch.device, int]] = set()
    for key, value in model.state_dict().items():
        if is_secondary_dpt_alias(key):
            continue
        tensor = value.detach().to("cpu").contiguous()
        storage = (tensor.device, tensor.untyped_storage().data_ptr())
        if storage in seen_storages:  # safetensors refuses shared storage: give the copy its own
            tensor = tensor.clone()
        seen_storages.add(storage)
        tensors[key] = tensor
    save_file(tensors, str(out / WEIGHTS_NAME), metadata={"format": "pt"})
    (out / CONFIG_NAME).write_text(json.dumps(config_to_json(name, config), indent=1) + "\n")
    return out


def convert_checkpoint(src: str | Path, out_dir: str | Path, *, keep_training_layout: bool = False) -> nn.Module:
    """Convert an official `.pth`, or a released folder of another project (e.g. OpenLRM's), into
    recon3r's `model.safetensors` + `config.json`: exactly what `load_model` builds.

    Returns the converted model (CPU, eval mode).
    """
    src = Path(src)
    if src.is_dir() or src.suffix == ".safetensors" or src.name == CONFIG_NAME:
        name, kwargs, state_dict, source = read_checkpoint(src)
    else:
        name, kwargs, state_dict, source = read_official_checkpoint(src, keep_training_layout=keep_training_layout)
    model = build_loaded_model(name, kwargs, state_dict, source).eval()
    save_model(model, out_dir)
    return model


# ---------------------------------------------------------------- reading
def read_checkpoint(path: str | Path, config: str | Path | None = None
                    ) -> tuple[str, dict[str, Any], dict[str, torch.Tensor], str]:
    """(class name, kwargs, state dict, source description) from either checkpoint format.

    `config`: an explicit config.json for the safetensors / pytorch_model.bin weights at `path`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if config is not None:
        if not Path(config).is_file():
            raise FileNotFoundError(f"config not found: {config}")
        folder = path if path.is_dir() else path.parent
        return read_safetensors_checkpoint(folder, weights=None if path.is_dir() else path, config_path=Path(config))
    if path.is_dir():
        return read_safetensors_checkpoint(path)
    if path.suffix == ".safetensors" or path.name == CONFIG_NAME:
        return read_safetensors_checkpoint(path.parent, weights=path if path.suffix == ".safetensors" else None)
    return read_official_checkpoint(path)


def read_safetensors_checkpoint(
    folder: Path, weights: Path | None = None, config_path: Path | None = None
) -> tuple[str, dict[str, Any], dict[str, torch.Tensor], str]:
    """Read `config.json` and the safetensors weights of a saved model folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if weights is None and not (folder / WEIGHTS_NAME).is_file() and (folder / PICKLED_WEIGHTS_NAME).is_file():
        weights = folder / PICKLED_WEIGHTS_NAME
    weights = weights or folder / WEIGHTS_NAME
    config_path = config_path or folder / CONFIG_NAME
    for required in (weights, config_path):
        if not required.is_file():
            raise CheckpointError(
                f"{folder}: expected {WEIGHTS_NAME} and {CONFIG_NAME} (or an official .pth file); {required.name} is missing"
            )
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config_path}: not valid JSON ({err})") from None
    name, kwargs = read_config(config, str(config_path))
    if weights.suffix != ".safetensors":  # pytorch_model.bin: a pickled state dict
        state_dict = restricted_torch_load(weights)
        if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
            raise CheckpointError(f"{weights}: expected a state dict of named tensors")
        return name, kwargs, strip_prefix(dict(state_dict)), str(weights)
    try:
        state_dict = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err})") from None
    return name, kwargs, state_dict, str(weights)


def read_config(config: Any, source: str = CONFIG_NAME) -> tuple[str, dict[str, Any]]:
    """(class name, kwargs) of a parsed config.json: recon3r's own layout or a registered foreign one."""
    own_layout = isinstance(config, Mapping) and isinstance(config.get("class"), str) and set(config) <= {"class", "kwargs"}
    if isinstance(config, Mapping) and not own_layout:
        for name, target in FOREIGN_CONFIG_READERS.items():
            module_name, attribute = target.split(":")
            reader = getattr(importlib.import_module(module_name), attribute)
            try:
                kwargs = reader(config)
            except ConfigError as err:
                raise CheckpointError(f"{source}: {err}") from None
            if kwargs is not None:
                return name, {k: _from_json(v) for k, v in kwargs.items()}
    return config_from_json(config, source)


def read_official_checkpoint(
    path: str | Path, *, keep_training_layout: bool = False
) -> tuple[str, dict[str, Any], dict[str, torch.Tensor], str]:
    """Read an official DUSt3R `.pth` safely; returns (class name, kwargs, state dict, source)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = restricted_torch_load(path)
    if not isinstance(ckpt, Mapping) or "model" not in ckpt:
        keys = list(ckpt) if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointError(f"{path}: expected a dict with 'model' (state dict) and 'args', got {keys}")
    state_dict = ckpt["model"]
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        raise CheckpointError(f"{path}: 'model' is not a state dict of named tensors")
    ctor = getattr(ckpt.get("args"), "model", None)
    if not isinstance(ctor, str):
        raise CheckpointError(
            f"{path}: no model constructor string at ckpt['args'].model; "
            "only official training checkpoints or model.safetensors + config.json folders can be loaded"
        )
    try:
        name, kwargs = parse_constructor(ctor)
    except ConfigError as err:
        raise CheckpointError(f"{path}: cannot use its model string: {err}") from None
    if not keep_training_layout:
        kwargs = inference_layout(name, kwargs)
    return name, kwargs, strip_prefix(dict(state_dict)), str(path)


def restricted_torch_load(path: Path) -> Any:
    """Unpickle `path` admitting only tensors, storages, containers and `argparse.Namespace`.

    Any other global (a class, or a function such as `os.system` in a crafted `__reduce__`) is
    refused by torch's weights_only unpickler before it can be called.
    """
    try:
        with torch.serialization.safe_globals(_SAFE_PICKLE_GLOBALS), warnings.catch_warnings():
            # torch warns about raw (non-torch.save) pickles before refusing them; the error says enough.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()
        detail = next((line.strip() for line in first_line if "GLOBAL" in line or "Unsupported" in line), "")
        raise CheckpointError(
            f"{path}: refused to load: the pickle needs objects outside the allowed set (tensors, "
            f"containers, argparse.Namespace); nothing from it was run. {detail}".rstrip()
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({err})") from None


class _ConstructorCall:
    def __init__(self, name: str, kwargs: dict[str, Any]):
        self.name = name
        self.kwargs = kwargs


def _recorder(name: str):
    cls = get_model_class(name)
    signature = inspect.signature(cls)

    def record(*args: Any, **kwargs: Any) -> _ConstructorCall:
        bound = signature.bind(*args, **kwargs)  # TypeError -> ConfigError in parse_spec
        return _ConstructorCall(name, dict(bound.arguments))

    return record


class _Recorders(Mapping):
    """Registry names → argument recorders, resolved on use (only the named class is imported)."""

    def __getitem__(self, name: str):
        if name not in list_models():
            raise KeyError(name)
        return _recorder(name)

    def __iter__(self):
        return iter(list_models())

    def __len__(self) -> int:
        return len(list_models())


def parse_constructor(text: str) -> tuple[str, dict[str, Any]]:
    """Parse a reference constructor string into (class name, kwargs) without building anything.

    Reference defaults that differ from ours (`reference_defaults`) are filled in for missing args.
    """
    call = _parse(text, _Recorders())
    if not isinstance(call, _ConstructorCall):
        raise ConfigError(f"invalid model spec: expected a call such as AsymmetricCroCo3DStereo(...), got {text!r}")
    cls = get_model_class(call.name)
    kwargs = {**getattr(cls, "reference_defaults", {}), **call.kwargs}
    return call.name, kwargs


def _parse(text: str, namespace: Mapping[str, Any]) -> Any:
    from recon3r.utils.spec import parse_spec

    return parse_spec(text, namespace, what="model")


def inference_layout(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The reference loader's inference layout: PatchEmbedDust3R instead of ManyAR, landscape_only=False."""
    params = inspect.signature(get_model_class(name)).parameters
    out = dict(kwargs)
    if out.get("patch_embed_cls") == "ManyAR_PatchEmbed":
        out["patch_embed_cls"] = "PatchEmbedDust3R"
    if "landscape_only" in params:
        out["landscape_only"] = False
    return out


def strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop a DataParallel `module.` prefix when every name carries it."""
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


# ---------------------------------------------------------------- building
def build_loaded_model(name: str, kwargs: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """Build `name(**kwargs)` without initialising weights and load `state_dict` strictly (CPU)."""
    try:
        cls = get_model_class(name)
        check_kwargs(cls, kwargs)
        with torch.device("meta"):
            model = cls(**kwargs)
    except ConfigError as err:
        raise CheckpointError(f"{source}: {err}") from None
    load_weights(model, state_dict, source)
    return model


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load `state_dict` into `model` (possibly on the meta device), strictly, casting floats to the model's dtype.

    Raises CheckpointError listing missing / unexpected names or mismatched shapes.
    """
    reference = model.state_dict()
    # The model's own filter (official aliases, CroCo-style init) decides which spellings are accepted.
    filter_fn = getattr(model, "filter_state_dict", None)
    filtered = filter_fn(state_dict) if callable(filter_fn) else dict(state_dict)
    missing = sorted(set(reference) - set(filtered))
    unexpected = sorted(set(filtered) - set(reference))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} parameter(s): {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} parameter(s): {_names(unexpected)}")
        raise CheckpointError(f"{source} does not match {type(model).__name__}: " + "; ".join(parts))
    mismatched = [
        f"{k} {tuple(filtered[k].shape)} vs {tuple(reference[k].shape)}"
        for k in reference
        if tuple(filtered[k].shape) != tuple(reference[k].shape)
    ]
    if mismatched:
        raise CheckpointError(f"{source}: shape mismatch for {len(mismatched)} parameter(s): {_names(mismatched)}")
    cast = {
        k: v.to(reference[k].dtype) if v.is_floating_point() and reference[k].is_floating_point() else v
        for k, v in filtered.items()
    }
    nn.Module.load_state_dict(model, cast, strict=True, assign=True)
    still_meta = [k for k, v in model.state_dict().items() if v.is_meta]
    if still_meta:
        raise CheckpointError(f"{source}: parameters left unloaded: {_names(still_meta)}")


def _names(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# ---------------------------------------------------------------- config.json
def config_to_json(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """{"class": name, "kwargs": ...} with infinities as "inf"/"-inf" and tuples as lists."""
    return {"class": name, "kwargs": {k: _to_json(v) for k, v in kwargs.items()}}


def config_from_json(config: Any, source: str = CONFIG_NAME) -> tuple[str, dict[str, Any]]:
    """Inverse of `config_to_json`: (class name, kwargs) with "inf"/"-inf" strings back as floats."""
    if not isinstance(config, Mapping) or not isinstance(config.get("class"), str):
        raise CheckpointError(f'{source}: expected {{"class": <model name>, "kwargs": {{...}}}} or the config.json '
                              f'of a released {" / ".join(FOREIGN_CONFIG_READERS)} folder')
    kwargs = config.get("kwargs", {})
    if not isinstance(kwargs, Mapping):
        raise CheckpointError(f"{source}: 'kwargs' must be an object, got {type(kwargs).__name__}")
    return config["class"], {k: _from_json(v) for k, v in kwargs.items()}


def _to_json(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _from_json(value: Any) -> Any:
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _from_json(v) for k, v in value.items()}
    return value
