"""Command-line flags made from typed dataclass configs: the config is the single source of every flag.

`add_config_arguments(parser, Config)` adds one argument per field, with the field's type, default
and help; `config_from_args(Config, args)` builds the config back. A field's `metadata` may refine
its flag (nerfstudio/tyro-style, without the dependency):

    help        the help text (the default is appended)
    flag        the flag's spelling (default: `--field-name`; positional when it has no leading dash)
    aliases     more spellings of the same flag
    choices     allowed values
    nargs       for positional lists ("+")
    negate      a bool field that defaults to True is set False by this flag (e.g. `--no-exif`)
    parse       a callable turning the command-line string into the field's value
    metavar     the placeholder in --help
    required    the flag must be given on the command line (the library may still default it)
    cli         False: not a command-line option (set by the library only)

Fields of type `tuple[str, ...]` are written comma-separated ("ply,glb"); a `list[str]` field with a
dashed flag is repeatable (`--method a --method b`); `bool` fields become
`--flag/--no-flag` switches unless `negate` is given. Every flag's default is the field's default,
so the CLI never states a default of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

_NO_DEFAULT = object()


def comma_list(text: str) -> tuple[str, ...]:
    """"a, b,c" → ("a", "b", "c"): the command-line form of a `tuple[str, ...]` field."""
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


def _base_type(hint: Any) -> Any:
    """The non-None member of an Optional hint (the first one of a wider Union)."""
    args = [t for t in typing.get_args(hint) if t is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        return args[0]
    return hint


def _default_of(item: dataclasses.Field) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return item.default_factory()  # type: ignore[misc]
    return _NO_DEFAULT


def _shown(value: Any) -> str:
    """A default as --help shows it ("" for an empty one, which --help then leaves out)."""
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, underscores: bool = False) -> None:
    """Add one argument per field of the dataclass `cls` (see the module docstring).

    Flags are spelled `--field-name`, or `--field_name` with `underscores` (the reference trainers'
    spelling); the CLI accepts both spellings either way (`recon3r.cli`).
    """
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        meta = item.metadata
        if meta.get("cli", True) is False:
            continue
        hint = _base_type(hints[item.name])
        default = _default_of(item)
        flag = meta.get("flag", f"--{item.name if underscores else item.name.replace('_', '-')}")
        help_text = meta.get("help", "")
        if default is not _NO_DEFAULT and default is not None and _shown(default) and hint is not bool:
            help_text = f"{help_text} (default: {_shown(default)})".strip()
        kwargs: dict[str, Any] = {"help": help_text, "dest": item.name}
        for key in ("choices", "metavar"):
            if key in meta:
                kwargs[key] = meta[key]
        if not flag.startswith("-"):  # positional
            kwargs.pop("dest")
            if "nargs" in meta:
                kwargs["nargs"] = meta["nargs"]
            parser.add_argument(item.name, **kwargs)
            continue
        names = [flag, *meta.get("aliases", ())]
        if hint is bool:
            if "negate" in meta:
                parser.add_argument(meta["negate"], action="store_false", default=default, **kwargs)
            else:
                parser.add_argument(*names, action=argparse.BooleanOptionalAction, default=default, **kwargs)
            continue
        if "parse" in meta:
            kwargs["type"] = meta["parse"]
        elif typing.get_origin(hint) is tuple:
            kwargs["type"] = comma_list
        elif typing.get_origin(hint) is list:
            kwargs["action"] = "append"  # argparse copies the default list before appending
        elif hint in (int, float, str):
            kwargs["type"] = hint
        if default is _NO_DEFAULT or meta.get("required"):
            kwargs["required"] = True
        else:
            kwargs["default"] = default  # the dataclass's own default: one source for library and CLI
        parser.add_argument(*names, **kwargs)


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """`cls(...)` from parsed flags: fields the command line left unset keep the dataclass default."""
    values = {item.name: getattr(args, item.name) for item in dataclasses.fields(cls) if hasattr(args, item.name)}
    return cls(**{**values, **overrides})
