"""A small name → class registry so checkpoints name their model without any code being evaluated.

Models register with `@register_model`. Models that live in modules not imported by
`recon3r.models` are listed in `_LAZY_MODELS` ("module:attribute") and imported on first use, so
loading a checkpoint never depends on import order.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from torch import nn

from recon3r.errors import ConfigError

_REGISTRY: dict[str, type[nn.Module]] = {}

# Name → "module:attribute" for registered models that are imported on demand.
_LAZY_MODELS: dict[str, str] = {
    "AsymmetricCroCo3DStereo": "recon3r.models.dust3r:AsymmetricCroCo3DStereo",
    "AsymmetricCroCo3DStereoAndText": "recon3r.models.dust3r_text:AsymmetricCroCo3DStereoAndText",
    "Depth3DModel": "recon3r.models.depth3d:Depth3DModel",
    "ModelLRM": "recon3r.models.lrm:ModelLRM",
    "Point3R": "recon3r.models.point3r:Point3R",
}

M = TypeVar("M", bound=type[nn.Module])


def register_model(cls: M) -> M:
    """Class decorator: make `cls` buildable by name (`cls.__name__`) from configs and checkpoints."""
    name = cls.__name__
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ConfigError(f"a different model is already registered as {name!r}")
    _REGISTRY[name] = cls
    return cls


def list_models() -> list[str]:
    """Names of every known model class, registered or lazily importable."""
    return sorted(set(_REGISTRY) | set(_LAZY_MODELS))


def get_model_class(name: str) -> type[nn.Module]:
    """The model class registered as `name`; ConfigError listing the known names otherwise."""
    if name not in _REGISTRY and name in _LAZY_MODELS:
        module_name, attribute = _LAZY_MODELS[name].split(":")
        cls = getattr(importlib.import_module(module_name), attribute)
        _REGISTRY.setdefault(name, cls)
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model class {name!r} (known: {', '.join(list_models())})")
    return _REGISTRY[name]


#: What each task's models are for, and the command that runs them (for "use recon3r ..." hints).
TASK_COMMANDS: dict[str, tuple[str, str]] = {
    "pair": ("pair (DUSt3R-style)", "reconstruct"),
    "stream": ("streaming (Point3R-style)", "stream"),
    "single_image": ("single-image (LRM-style)", "single-image"),
    "depth_to_3d": ("depth-to-3D", "depth-to-3d"),
}


def check_kwargs(cls: type, kwargs: Mapping[str, Any]) -> None:
    """Raise ConfigError naming any keyword that `cls`'s constructor does not take, or whose value
    cannot be of the type of its default (see `check_kwarg_values`)."""
    params = inspect.signature(cls).parameters
    defaults = {name: p.default for name, p in params.items() if p.default is not inspect.Parameter.empty}
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        _refuse_unknown(cls.__name__, kwargs, list(params))
    check_kwarg_values(cls.__name__, kwargs, defaults)


def config_from_kwargs(config_cls: type, kwargs: Mapping[str, Any], owner: str) -> Any:
    """`config_cls(**kwargs)` for a model whose constructor takes `**kwargs` of a config dataclass.

    Raises ConfigError naming any keyword that is not a field of `config_cls`, or whose value
    cannot be of the type of the field's default.
    """
    fields = dataclasses.fields(config_cls)
    _refuse_unknown(owner, kwargs, [f.name for f in fields])
    check_kwarg_values(owner, kwargs, {f.name: f.default for f in fields if f.default is not dataclasses.MISSING})
    return config_cls(**kwargs)


def check_kwarg_values(owner: str, kwargs: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Refuse values that cannot stand in for a scalar default: a non-bool for a bool, a bool or text
    for a number (JSON `true` is not 1), a non-finite number where the default is finite, text where
    the default is text and the value is not. Lists, None and other defaults are left to the constructor.
    """
    for key, value in kwargs.items():
        if key not in defaults:
            continue
        default = defaults[key]
        problem = None
        if isinstance(default, bool):
            problem = None if isinstance(value, bool) else "must be true or false"
        elif isinstance(default, (int, float)):
            if isinstance(value, (bool, str)) or (value is not None and not isinstance(value, (int, float, list, tuple))):
                problem = "must be a number"
            elif isinstance(value, float) and not math.isfinite(value) and math.isfinite(default):
                problem = "must be a finite number"
            elif isinstance(default, int) and isinstance(value, float) and not value.is_integer():
                problem = "must be a whole number"
        elif isinstance(default, str) and value is not None and not isinstance(value, str):
            problem = "must be a string"
        if problem:
            raise ConfigError(f"{owner}: {key} {problem}, got {value!r}")


def _refuse_unknown(owner: str, kwargs: Mapping[str, Any], known: list[str]) -> None:
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ConfigError(f"{owner} got unknown argument(s) {', '.join(unknown)} (known: {', '.join(known)})")


def build_model(name: str, kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """Build a registered model from its name and constructor keyword arguments."""
    cls = get_model_class(name)
    kwargs = dict(kwargs or {})
    check_kwargs(cls, kwargs)
    return cls(**kwargs)
