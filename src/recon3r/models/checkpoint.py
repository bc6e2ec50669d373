"""Load and save pair-model checkpoints without evaluating any code.

Two formats are read by `load_model(path, device)`:

(a) An official training checkpoint (`.pth`: DUSt3R, Point3R): a pickled dict with `model` (the
    state dict) and `args` whose `model` is a constructor string such as
    "AsymmetricCroCo3DStereo(pos_embed='RoPE100', img_size=(512, 512), head_type='dpt', ...)" or
    "Point3R(Point3RConfig(freeze='encoder', pos_embed='RoPE100', ...))". `args` may be an
    `argparse.Namespace` (DUSt3R), a plain dict, or an OmegaConf `DictConfig` (the hydra trainers of
    CUT3R / Point3R pickle theirs). The pickle is read by torch's restricted `weights_only`
    unpickler, which admits tensors, storages, plain containers, `argparse.Namespace` and inert
    stand-ins for OmegaConf's classes (`_InertPickled`: they keep the pickled state as data, no
    OmegaConf code exists or runs), and refuses everything else before anything runs. The
    constructor string is parsed with `recon3r.utils.spec.parse_spec` against the model registry:
    known class names (and `<Model>Config(...)` wrappers of their keyword arguments) and literal
    arguments only. Without a constructor string, `load_model(path, model="Point3R(...)")` names the
    model explicitly; a state dict with Point3R's keys and no config defaults to the released
    `point3r_512_dpt` configuration (every official Point3R checkpoint has its names and shapes).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recon3r.errors import CheckpointError, ConfigError
from recon3r.models.registry import TASK_COMMANDS, check_kwargs, get_model_class, list_models

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
PICKLED_WEIGHTS_NAME = "pytorch_model.bin"  # huggingface_hub's older weight file: a pickled state dict

#: Readers of other projects' config.json layouts: class name → "module:function". The function
#: takes the parsed JSON and returns that class's constructor kwargs, or None when the layout is
#: not its own (it may raise ConfigError for a recognised but malformed one). Imported on demand.
FOREIGN_CONFIG_READERS: dict[str, str] = {
    "ModelLRM": "recon3r.models.lrm:openlrm_config_kwargs",
}



class _InertPickled:
    """Stand-in for a class of a pickled training config (OmegaConf): records its state as data, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__["pickled_state"] = state


def _inert_defaultdict(*args: Any) -> dict:
    return {}


#: OmegaConf's pickled globals (containers, nodes, metadata and the typing objects they reference).
_OMEGACONF_GLOBALS = [
    "omegaconf.dictconfig.DictConfig", "omegaconf.listconfig.ListConfig", "omegaconf.base.Metadata",
    "omegaconf.base.ContainerMetadata", "omegaconf.nodes.AnyNode", "omegaconf.nodes.StringNode",
    "omegaconf.nodes.IntegerNode", "omegaconf.nodes.FloatNode", "omegaconf.nodes.BooleanNode",
    "omegaconf.nodes.EnumNode", "omegaconf.nodes.BytesNode", "omegaconf.nodes.PathNode",
    "omegaconf.nodes.InterpolationResultNode", "typing.Any", "typing.Dict", "typing.List", "typing.Optional",
    "typing.Union", "typing.Tuple", "builtins.dict", "builtins.list", "builtins.tuple", "builtins.int",
    "builtins.float", "builtins.str", "builtins.bool", "builtins.bytes", "builtins.object",
]

# Restricted pickle: the only globals admitted beyond torch's weights_only defaults.
_SAFE_PICKLE_GLOBALS: list[Any] = [
    argparse.Namespace,
    *[(_InertPickled, name) for name in _OMEGACONF_GLOBALS],
    (_inert_defaultdict, "collections.defaultdict"),
]


# ---------------------------------------------------------------- public API
def load_model(path: str | Path, device: str | torch.device = "cpu", *, expect: str | None = None,
               task: str | None = None, model: str | None = None, config: str | Path | None = None,
               dtype: str | torch.dtype | None = None, head_dtype: str | torch.dtype | None = None) -> nn.Module:
    """Load a model from an official `.pth` or a `model.safetensors` + `config.json` folder.

    Returns the model in eval mode on `device` ("auto" picks an available accelerator), float32
    (the checkpoint's floating tensors are cast). `expect`: a registered class name; `task`: the
    `task_name` the model class must declare ("pair", "stream", ...). A checkpoint of another class
    or task is refused with a CheckpointError before anything is built, naming the command that runs it.
    `model`: for a `.pth`, a constructor string (official syntax, parsed safely) used instead of the
    checkpoint's own (for checkpoints whose training config is missing or unreadable). `config`: a
    config.json to use instead of the one beside the weights (`path` is then the weights file or
    their folder). `dtype`: 'bfloat16' (or `torch.bfloat16`; 'float16' on accelerators) runs the
    transformer blocks' matrix products in that precision, the weights cast once, everything else
    float32 (`recon3r.models.precision.set_inference_dtype`); None or 'float32': float32 throughout.
    `head_dtype`: the same for the convolutions of DPT heads (all but their output layer); float32 by default.
    """
    from recon3r.models.precision import check_dtype_for_device, parse_dtype, set_inference_dtype
    from recon3r.utils.device import resolve_device

    target = resolve_device(device)
    dtype = parse_dtype(dtype)
    head_dtype = parse_dtype(head_dtype, flag="--head-dtype")
    check_dtype_for_device(dtype, target)
    check_dtype_for_device(head_dtype, target, flag="--head-dtype")
    name, kwargs, state_dict, source = read_checkpoint(path, model=model, config=config)
    check_model_kind(path, name, expect=expect, task=task)
    built = build_loaded_model(name, kwargs, state_dict, source)
    built = built.to(target).eval()
    if dtype == torch.float32 and head_dtype == torch.float32:
        return built
    return set_inference_dtype(built, dtype, head_dtype=head_dtype)


def check_model_kind(path: str | Path, name: str, *, expect: str | None = None, task: str | None = None) -> None:
    """CheckpointError when class `name` is not `expect` or does not declare `task`; the message says
    which system the checkpoint belongs to and which `recon3r` command runs it."""
    if expect is None and task is None:
        return
    try:
        found = getattr(get_model_class(name), "task_name", None)
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}") from None
    if (expect is None or name == expect) and (task is None or found == task):
        return
    wanted = expect or (TASK_COMMANDS[task][0] if task in TASK_COMMANDS else task)
    if found in TASK_COMMANDS:
        system, command = TASK_COMMANDS[found]
        raise CheckpointError(f"{path} holds a {name} model, not the {wanted} model needed here: this is a "
                              f"{system} model; use `recon3r {command}`")
    raise CheckpointError(f"{path} holds a {found or name} model, not the {wanted} model needed here")


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


def convert_checkpoint(
    src: str | Path, out_dir: str | Path, *, keep_training_layout: bool = False, model: str | None = None
) -> nn.Module:
    """Convert an official `.pth`, or a released folder of another project (e.g. OpenLRM's), into
    recon3r's `model.safetensors` + `config.json`: exactly what `load_model` builds.

    `model`: a constructor string replacing the checkpoint's own (see `load_model`).
    Returns the converted model (CPU, eval mode).
    """
    src = Path(src)
    if src.is_dir() or src.suffix == ".safetensors" or src.name == CONFIG_NAME:
        name, kwargs, state_dict, source = read_checkpoint(src, model=model)
    else:
        name, kwargs, state_dict, source = read_official_checkpoint(
            src, keep_training_layout=keep_training_layout, model=model)
    model = build_loaded_model(name, kwargs, state_dict, source).eval()
    save_model(model, out_dir)
    return model


@dataclass
class ConvertConfig:
    """One conversion: the library's config (`run_convert`) and the source of every `recon3r convert`
    flag (`recon3r.utils.config_cli`)."""

    checkpoint: str = field(metadata={
        "flag": "checkpoint",
        "help": "official training checkpoint (.pth) of DUSt3R or Point3R (e.g. point3r_512.pth), read with a "
        "restricted unpickler, or a released OpenLRM folder (config.json of ModelLRM kwargs + model.safetensors)"})
    out_dir: str = field(metadata={
        "flag": "out_dir",
        "help": "folder to write model.safetensors and config.json into: new or empty, or an earlier conversion's "
        "with --overwrite (not the checkpoint's own folder)"})
    keep_training_layout: bool = field(default=False, metadata={
        "help": "keep the checkpoint's constructor string verbatim (e.g. ManyAR_PatchEmbed, landscape_only=True) "
        "instead of the inference layout that `recon3r.load_model` uses for .pth files (PatchEmbedDust3R, "
        "landscape_only=False)"})
    overwrite: bool = field(default=False, metadata={
        "aliases": ("--force",),
        "help": "replace a folder an earlier `recon3r convert` wrote (kept until the new one is complete)"})
    model: str | None = field(default=None, metadata={
        "help": "constructor string to use instead of the checkpoint's own, e.g. \"Point3R(Point3RConfig("
        "enc_embed_dim=1024, ...))\" (for checkpoints whose training config is missing)"})


def run_convert(config: ConvertConfig) -> tuple[nn.Module, Path]:
    """`convert_checkpoint` into a checked output folder (new or empty, or an earlier conversion's with
    `overwrite`; written in full before it replaces anything). Returns the model and the folder."""
    from recon3r.io.output_dir import check_output_dir

    def converted_before(folder: Path) -> bool:  # a folder an earlier convert wrote, before the marker existed
        return {p.name for p in folder.iterdir()} <= {WEIGHTS_NAME, CONFIG_NAME}

    output = check_output_dir(config.out_dir, "convert", inputs=[config.checkpoint], overwrite=config.overwrite,
                              flag="OUT_DIR", legacy=converted_before)
    with output.staged() as staging:
        model = convert_checkpoint(config.checkpoint, staging, keep_training_layout=config.keep_training_layout,
                                   model=config.model)
    return model, output.path


# ---------------------------------------------------------------- reading
def read_checkpoint(path: str | Path, model: str | None = None, config: str | Path | None = None
                    ) -> tuple[str, dict[str, Any], dict[str, torch.Tensor], str]:
    """(class name, kwargs, state dict, source description) from either checkpoint format.

    `model`: a constructor string for an official `.pth` that names none; `config`: an explicit
    config.json for the safetensors / pytorch_model.bin weights at `path`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    safetensors = path.is_dir() or path.suffix == ".safetensors" or path.name == CONFIG_NAME
    if (safetensors or config is not None) and model is not None:
        raise CheckpointError(f"{path}: a model.safetensors + config.json checkpoint names its own model; "
                              "`model=` is only for official .pth files")
    if config is not None:
        if not Path(config).is_file():
            raise FileNotFoundError(f"config not found: {config}")
        folder = path if path.is_dir() else path.parent
        return read_safetensors_checkpoint(folder, weights=None if path.is_dir() else path, config_path=Path(config))
    if path.is_dir():
        return read_safetensors_checkpoint(path)
    if safetensors:
        return read_safetensors_checkpoint(path.parent, weights=path if path.suffix == ".safetensors" else None)
    return read_official_checkpoint(path, model=model)


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
    path: str | Path, *, keep_training_layout: bool = False, model: str | None = None
) -> tuple[str, dict[str, Any], dict[str, torch.Tensor], str]:
    """Read an official `.pth` safely; returns (class name, kwargs, state dict, source).

    The model comes from `model` (a constructor string) if given, else from the checkpoint's
    `args.model`, else (Point3R only) from the state dict's names; CheckpointError otherwise.
    """
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
    state_dict = strip_prefix(dict(state_dict))
    ctor = model if model is not None else training_args_model(ckpt.get("args"))
    source = str(path)
    if ctor is None:
        name, kwargs = model_from_state_dict(state_dict, path)
        source = (f"{path} (it names no model: assumed {name}'s released configuration; "
                  f"pass model='{name}(...)' for another)")
    else:
        try:
            name, kwargs = parse_constructor(ctor)
        except ConfigError as err:
            which = "the given" if model is not None else "its"
            raise CheckpointError(f"{path}: cannot use {which} model string: {err}") from None
    if not keep_training_layout:
        kwargs = inference_layout(name, kwargs)
    return name, kwargs, state_dict, source


def training_args_model(args: Any) -> str | None:
    """The model constructor string of a checkpoint's pickled training arguments, or None.

    `args` is an `argparse.Namespace`, a dict, or an inert stand-in for an OmegaConf `DictConfig`.
    """
    if isinstance(args, _InertPickled):
        args = plain_config(args)
    ctor = args.get("model") if isinstance(args, Mapping) else getattr(args, "model", None)
    return ctor if isinstance(ctor, str) else None


def plain_config(value: Any, depth: int = 0) -> Any:
    """Plain dicts / lists / values from inert OmegaConf stand-ins (their `_content` and `_val` state)."""
    if depth > 64:
        return None
    if isinstance(value, _InertPickled):
        state = value.__dict__.get("pickled_state")
        if isinstance(state, tuple) and len(state) == 2:  # (state, slot state)
            state = state[0]
        if isinstance(state, Mapping):
            if "_content" in state:
                return plain_config(state["_content"], depth + 1)
            if "_val" in state:
                return plain_config(state["_val"], depth + 1)
        return None
    if isinstance(value, Mapping):
        return {k: plain_config(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(v, depth + 1) for v in value]
    return value


def model_from_state_dict(state_dict: Mapping[str, torch.Tensor], path: Path) -> tuple[str, dict[str, Any]]:
    """(class name, kwargs) for a checkpoint without a model string: Point3R's names → its released config."""
    if "pose_retriever.mem" in state_dict and any(k.startswith("dec_blocks_memory.") for k in state_dict):
        from recon3r.models.point3r import OFFICIAL_CONFIGS

        return "Point3R", dict(OFFICIAL_CONFIGS["point3r_512_dpt"])
    raise CheckpointError(
        f"{path}: no model constructor string at ckpt['args'].model and the weights are not a known official "
        "model's; pass the model explicitly, e.g. load_model(path, model=\"AsymmetricCroCo3DStereo(...)\") "
        "(recon3r convert --model ...), or use a model.safetensors + config.json folder"
    )


def resolve_checkpoint_path(path: str | Path) -> Path:
    """`path`, or the recon3r checkpoint folder a DUSt3R-style `.../checkpoint-best.pth` stands for."""
    path = Path(path)
    if not path.exists() and path.suffix == ".pth" and path.with_suffix("").is_dir():
        return path.with_suffix("")
    if not path.exists():
        raise FileNotFoundError(f"pretrained checkpoint not found: {path}")
    return path


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], Any]:
    """(state dict, the unpickled `.pth` object or None) of a `.pth` or a `model.safetensors` file or folder.

    A `.pth` is read with the restricted unpickler; its `model` entry (or the dict itself) must map
    names to tensors, and a DDP `module.` prefix is stripped. CheckpointError names the file otherwise.
    """
    path = Path(path)
    if path.is_dir() or path.suffix == ".safetensors":
        from safetensors.torch import load_file

        weights = path / WEIGHTS_NAME if path.is_dir() else path
        if not weights.is_file():
            raise CheckpointError(f"{path}: no {WEIGHTS_NAME} found")
        return load_file(str(weights)), None
    ckpt = restricted_torch_load(path)
    state_dict = ckpt.get("model", ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state_dict, Mapping) or not all(torch.is_tensor(v) for v in state_dict.values()):
        raise CheckpointError(f"{path}: expected a state dict (or a dict with 'model'), got {type(ckpt).__name__}")
    return strip_prefix(dict(state_dict)), ckpt


def restricted_torch_load(path: Path) -> Any:
    """Unpickle `path` admitting only tensors, storages, containers, `argparse.Namespace` and OmegaConf data.

    OmegaConf's classes (and the type objects their metadata references) are replaced by inert
    stand-ins (`_InertPickled`) that only record the pickled state.

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
            f"containers, argparse.Namespace, OmegaConf configs as data); nothing from it was run. {detail}".rstrip()
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({err})") from None


class _ConstructorCall:
    def __init__(self, name: str, kwargs: dict[str, Any]):
        self.name = name
        self.kwargs = kwargs


class _ConfigCall:
    def __init__(self, kwargs: dict[str, Any]):
        self.kwargs = kwargs


def _recorder(name: str):
    cls = get_model_class(name)
    signature = inspect.signature(cls)

    def record(*args: Any, **kwargs: Any) -> _ConstructorCall:
        if len(args) == 1 and isinstance(args[0], _ConfigCall):  # Point3R(Point3RConfig(...))
            kwargs = {**args[0].kwargs, **kwargs}
            args = ()
        bound = signature.bind(*args, **kwargs)  # TypeError -> ConfigError in parse_spec
        return _ConstructorCall(name, dict(bound.arguments))

    return record


def _config_recorder(**kwargs: Any) -> _ConfigCall:
    return _ConfigCall(kwargs)


class _Recorders(Mapping):
    """Registry names → argument recorders, resolved on use (only the named class is imported).

    `<Model>Config` (e.g. `Point3RConfig`) records keyword arguments for `<Model>(<Model>Config(...))`.
    """

    def __getitem__(self, name: str):
        if name in list_models():
            return _recorder(name)
        if name.endswith("Config") and name[: -len("Config")] in list_models():
            return _config_recorder
        raise KeyError(name)

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
    except (TypeError, ValueError, OverflowError, ZeroDivisionError, AttributeError, KeyError, IndexError,
            AssertionError, RuntimeError) as err:
        # Keyword values of the wrong kind that the checks above cannot see (e.g. a list of text).
        raise CheckpointError(f"{source}: cannot build {name} from its keyword arguments "
                              f"({type(err).__name__}: {err})") from None
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
        raise CheckpointError(f"{source} does not match {type(model).__name__}: " + key_mismatch(missing, unexpected))
    mismatched = [
        f"{k} {tuple(filtered[k].shape)} vs {tuple(reference[k].shape)}"
        for k in reference
        if tuple(filtered[k].shape) != tuple(reference[k].shape)
    ]
    if mismatched:
        raise CheckpointError(f"{source}: shape mismatch for {len(mismatched)} parameter(s): {name_list(mismatched)}")
    cast = {
        k: _aligned(v.to(reference[k].dtype) if v.is_floating_point() and reference[k].is_floating_point() else v)
        for k, v in filtered.items()
    }
    nn.Module.load_state_dict(model, cast, strict=True, assign=True)
    still_meta = [k for k, v in model.state_dict().items() if v.is_meta]
    if still_meta:
        raise CheckpointError(f"{source}: parameters left unloaded: {name_list(still_meta)}")


def _aligned(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor`, copied into torch's own (64-byte aligned) CPU memory when it lies elsewhere.

    safetensors hands out tensors at 8-byte offsets of its buffer; CPU kernels take other code
    paths on such memory, so a loaded model would differ from the saved one by a few ulps.
    """
    if tensor.device.type == "cpu" and tensor.data_ptr() % 64:
        return tensor.clone()
    return tensor


def key_mismatch(missing: list[str], unexpected: list[str], what: str = "parameter(s)") -> str:
    """"missing N <what>: a, b, ...; unexpected M <what>: ..." for a state dict that does not fit."""
    parts = [f"missing {len(missing)} {what}: {name_list(missing)}"] if missing else []
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} {what}: {name_list(unexpected)}")
    return "; ".join(parts)


def name_list(names: list[str], limit: int = 12) -> str:
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
