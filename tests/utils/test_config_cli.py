"""Flags made from dataclass configs: every field has its flag, unset flags keep the config's defaults."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from recon3r.cli import build_parser
from recon3r.reconstruct import ReconstructConfig
from recon3r.train.config import TrainConfig
from recon3r.utils.config_cli import add_config_arguments, comma_list, config_from_args


@dataclass
class Example:
    name: str = field(metadata={"flag": "name", "help": "positional"})
    count: int = field(default=3, metadata={"help": "how many"})
    ratio: float | None = None
    formats: tuple[str, ...] = ("a", "b")
    verbose: bool = field(default=True, metadata={"negate": "--quiet"})
    fast: bool = False
    tags: list[str] = field(default_factory=list, metadata={"flag": "--tag"})


def _parse(argv: list[str]) -> Example:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Example)
    return config_from_args(Example, parser.parse_args(argv))


def test_unset_flags_keep_the_dataclass_defaults():
    assert _parse(["x"]) == Example("x")


def test_each_kind_of_field_is_read_from_the_command_line():
    got = _parse(["x", "--count", "5", "--ratio", "0.5", "--formats", "c, d", "--quiet", "--fast"])
    assert got == Example("x", count=5, ratio=0.5, formats=("c", "d"), verbose=False, fast=True)
    assert comma_list(" a,,b ") == ("a", "b")


def test_a_list_flag_is_repeatable_and_its_default_is_not_shared():
    assert _parse(["x", "--tag", "a", "--tag", "b,c"]).tags == ["a", "b,c"]
    assert _parse(["x"]).tags == [] and Example("y").tags == []


def test_bad_values_are_refused_by_the_parser():
    with pytest.raises(SystemExit):
        _parse(["x", "--count", "many"])


def _subparser(name: str) -> argparse.ArgumentParser:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices[name]


@pytest.mark.parametrize("command, cls", [("reconstruct", ReconstructConfig), ("train", TrainConfig)])
def test_every_config_field_has_a_flag(command, cls):
    dests = {action.dest for action in _subparser(command)._actions}
    missing = [f.name for f in dataclasses.fields(cls) if f.metadata.get("cli", True) and f.name not in dests]
    assert missing == []


def test_reconstruct_flags_build_the_library_config():
    args = build_parser().parse_args(["reconstruct", "a.png", "b.png", "--out", "o", "--max-depth-ratio", "4",
                                      "--formats", "ply,npz", "--glb", "mesh", "--no-exif", "--quiet"])
    config = config_from_args(ReconstructConfig, args)
    assert config == ReconstructConfig(images=["a.png", "b.png"], out="o", max_depth_ratio=4.0, formats=("ply", "npz"),
                                       glb_geometry="mesh", exif=False, progress=False)
    bare = config_from_args(ReconstructConfig, build_parser().parse_args(["reconstruct", "a.png", "--out", "o"]))
    assert bare == ReconstructConfig(images=["a.png"], out="o")
