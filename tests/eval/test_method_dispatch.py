"""A checkpoint's system picks its evaluation method, and a task its system cannot do is a one-line error."""

from __future__ import annotations

import json

import pytest
import torch

from recon3r.cli import main
from recon3r.commands import eval as eval_command
from recon3r.eval.benchmarks import TASKS
from recon3r.eval.depth_to_3d import Depth3DMethod
from recon3r.eval.methods import (
    BASELINES,
    SYSTEM_METHODS,
    TASK_BASELINES,
    LearnedMethod,
    StreamMethod,
    _import,
    default_baselines,
    resolve_method,
)
from recon3r.eval.novel_view import NovelViewMethod
from recon3r.models import build_model, save_model
from recon3r.models.registry import get_model_class

CLASSES = {"AsymmetricCroCo3DStereo": LearnedMethod, "Point3R": StreamMethod, "ModelLRM": NovelViewMethod,
           "Depth3DModel": Depth3DMethod}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    return {name: save_model(build_model(name, get_model_class(name).tiny_config), root / name) for name in CLASSES}


@pytest.mark.parametrize("name", list(CLASSES))
def test_the_checkpoint_class_picks_the_method(checkpoints, name):
    method = resolve_method(str(checkpoints[name]), device="cpu")
    assert type(method) is CLASSES[name] and method.model_class == name
    assert method.system == get_model_class(name).task_name
    assert method.model is None  # chosen from config.json alone: nothing built yet


def test_the_method_is_chosen_from_config_json_without_reading_the_weights(checkpoints, tmp_path, capsys):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text((checkpoints["Point3R"] / "config.json").read_text())
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    assert isinstance(resolve_method(str(folder), device="cpu"), StreamMethod)
    # The weights are read when the evaluation starts: one error line, exit 2.
    assert main(["eval", "trajectory", "--benchmark", "procedural:1:views=3,size=32", "--method", str(folder),
                 "--quiet"]) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "task"), [("Point3R", "novel_view"), ("ModelLRM", "trajectory"),
                                             ("Depth3DModel", "relpose"), ("AsymmetricCroCo3DStereo", "depth_to_3d"),
                                             ("Point3R", "depth_to_3d")])
def test_a_task_the_system_cannot_do_is_one_line_naming_both(checkpoints, name, task, capsys):
    code = main(["eval", task, "--benchmark", "procedural:1", "--method", str(checkpoints[name]), "--quiet"])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ") and f"({name}, a " in line and f"task {task!r}" in line
    assert ", ".join(CLASSES[name].tasks) in line


def test_the_help_lists_every_task_and_what_each_system_does():
    classes = {system: _import(target) for system, target in SYSTEM_METHODS.items()}
    assert sorted(tuple(sorted(t)) for t in eval_command.SYSTEM_TASKS.values()) == sorted(
        tuple(sorted(c.tasks)) for c in classes.values())
    assert {t for c in classes.values() for t in c.tasks} == set(TASKS)
    parser = __import__("recon3r.cli", fromlist=["build_parser"]).build_parser()
    text = parser._subparsers._group_actions[0].choices["eval"].format_help()
    for task in TASKS:
        assert task in text


@pytest.mark.parametrize("task", TASKS)
def test_every_task_has_a_baseline_row_that_can_score_it(task):
    names = TASK_BASELINES[task]
    assert names and all(task in _import(BASELINES[n]).tasks for n in names)
    assert all(task in b.tasks for b in default_baselines(task))


def test_no_baselines_leaves_only_the_methods_given(checkpoints, tmp_path):
    out = tmp_path / "r.json"
    assert main(["eval", "trajectory", "--benchmark", "procedural:1:views=3,size=32", "--method",
                 str(checkpoints["Point3R"]), "--size", "32", "--device", "cpu", "--no-baselines", "--out", str(out),
                 "--quiet"]) == 0
    assert [m["method"] for m in json.loads(out.read_text())["methods"]] == ["Point3R"]
    # A baseline given explicitly is not added twice.
    assert main(["eval", "trajectory", "--benchmark", "procedural:1:views=3,size=32", "--method", "constant-velocity",
                 "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert [m["method"] for m in json.loads(out.read_text())["methods"]] == ["constant-velocity"]


def test_sizes_are_checked_per_system(checkpoints, capsys):
    code = main(["eval", "depth", "--benchmark", "procedural:1", "--method", str(checkpoints["AsymmetricCroCo3DStereo"]),
                 "--size", "300", "--quiet"])
    assert code == 2 and "--size must be 224 or 512 for a pair model, got 300" in capsys.readouterr().err
    assert resolve_method(str(checkpoints["Point3R"]), size=96).size == 96  # any long side for a stream
    with pytest.raises(ValueError, match="image size must be"):
        resolve_method(str(checkpoints["Point3R"]), size=8)
