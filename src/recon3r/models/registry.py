"""A small name → class registry so checkpoints name their model without any code being evaluated.

Models register with `@register_model`. Models that live in modules not imported by
`recon3r.models` are listed in `_LAZY_MODELS` ("module:attribute") and imported on first use, so
loading a checkpoint never depends on import order.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
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
    "LRM": "recon3r.models.lrm:LRM",
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


def check_kwargs(cls: type, kwargs: Mapping[str, Any]) -> None:
    """Raise ConfigError naming any keyword that `cls`'s constructor does not take."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    _refuse_unknown(cls.__name__, kwargs, list(params))


def config_from_kwargs(config_cls: type, kwargs: Mapping[str, Any], owner: str) -> Any:
    """`config_cls(**kwargs)` for a model whose constructor takes `**kwargs` of a config dataclass.

    Raises ConfigError naming any keyword that is not a field of `config_cls`.
    """
    _refuse_unknown(owner, kwargs, [f.name for f in dataclasses.fields(config_cls)])
    return config_cls(**kwargs)


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
