"""Each converted command's flags are exactly its config's fields (issue 11: one place for each thing).

For every command whose parser is made by `recon3r.utils.config_cli`: every config field meant for
the command line has a flag, every flag maps to a field (so none is written by hand), and a command
line of only the required arguments builds the library's default config.
"""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from recon3r.cli import build_parser, main
from recon3r.depth3d import DepthTo3DConfig
from recon3r.eval.methods import MethodSettings
from recon3r.eval.run import EvalConfig
from recon3r.lrm.pipeline import SingleImageConfig
from recon3r.models.checkpoint import ConvertConfig
from recon3r.stream.reconstruct import DEFAULT_MAX_POINTERS, StreamConfig
from recon3r.utils.config_cli import config_from_args

#: command → (its config class, the fewest arguments it accepts, the config those arguments mean).
COMMANDS = {
    "stream": (StreamConfig, ["frames", "--out", "o"], StreamConfig(frames=["frames"], out="o")),
    "depth-to-3d": (DepthTo3DConfig, ["d.npy", "--out", "o.ply"], DepthTo3DConfig(depth="d.npy", out="o.ply")),
    "single-image": (SingleImageConfig, [], SingleImageConfig()),
    "eval": (EvalConfig, [], EvalConfig()),
    "convert": (ConvertConfig, ["c.pth", "o"], ConvertConfig(checkpoint="c.pth", out_dir="o")),
}

#: Hidden flags of the original projects' scripts, mapped onto config fields before the config is built.
SEED_FLAGS = {"eval": {"seed_weights", "seed_output_dir", "seed_eval_dataset", "seed_model_name"}}


def _subparser(name: str) -> argparse.ArgumentParser:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices[name]


def _destinations(parser: argparse.ArgumentParser) -> set[str]:
    return {action.dest for action in parser._actions if not isinstance(action, argparse._HelpAction)}


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_and_config_fields_match_one_to_one(command):
    cls = COMMANDS[command][0]
    fields = {f.name for f in dataclasses.fields(cls) if f.metadata.get("cli", True) is not False}
    parser = _subparser(command)
    seeds = SEED_FLAGS.get(command, set())
    assert all(a.help == argparse.SUPPRESS for a in parser._actions if a.dest in seeds)
    flags = _destinations(parser) - seeds
    assert sorted(fields - flags) == [], "config fields without a flag"
    assert sorted(flags - fields) == [], "flags that are no config field"


@pytest.mark.parametrize("command", COMMANDS)
def test_the_bare_command_line_builds_the_library_default(command):
    cls, argv, expected = COMMANDS[command]
    assert config_from_args(cls, build_parser().parse_args([command, *argv])) == expected


def test_stream_flags_keep_their_spellings_and_meanings():
    args = build_parser().parse_args(["stream", "a.png", "b.png", "--out", "o", "--weights", "w.pth", "--max-pointers",
                                      "0", "--every", "2", "--max-frames", "9", "--min-conf", "2.5", "--formats",
                                      "ply, npz", "--dtype", "bfloat16", "--head-dtype", "bfloat16", "--quiet",
                                      "--overwrite", "--size", "224"])
    config = config_from_args(StreamConfig, args)
    assert config == StreamConfig(frames=["a.png", "b.png"], out="o", weights="w.pth", max_pointers=0, every=2,
                                  max_frames=9, min_conf=2.5, formats=("ply", "npz"), dtype="bfloat16",
                                  head_dtype="bfloat16", progress=False, overwrite=True, size=224)
    assert config.memory_cap is None and StreamConfig(frames=["a"]).memory_cap == DEFAULT_MAX_POINTERS


def test_eval_flags_keep_their_spellings_aliases_and_meanings():
    args = build_parser().parse_args([
        "eval", "depth", "--benchmark", "procedural:2", "--method", "a", "--method", "b", "--no-baselines", "--out",
        "r.json", "--overwrite", "--size", "224", "--niter", "5", "--graph", "swin", "--dtype", "bfloat16",
        "--head_dtype", "bfloat16", "--align_mode", "pair", "--device", "cpu", "--depth-align", "scale&shift", "--normals", "pca", "--icp",
        "--max-points", "99", "--max_pointers", "0", "--mesh-size", "32", "--focal-guess", "fov60",
        "--distortion-seed", "4", "--captions", "c.json", "--colmap-threads", "2", "--seed", "3", "--cache", "k",
        "--save-predictions", "p", "--quiet"])
    config = config_from_args(EvalConfig, args)
    assert config == EvalConfig(
        task_arg="depth", benchmark="procedural:2", methods=["a", "b"], baselines=False, out="r.json", overwrite=True,
        size=224, niter=5, graph="swin", dtype="bfloat16", head_dtype="bfloat16", align_mode="pair", device="cpu",
        depth_align="scale&shift",
        normals="pca", icp=True, max_points=99, max_pointers=0, mesh_size=32, focal_guess="fov60",
        distortion_seed=4, captions="c.json", colmap_threads=2, seed=3, cache="k", save_predictions="p",
        progress=False)
    assert config.chosen_task() == "depth"
    assert config.method_settings() == MethodSettings(
        size=224, niter=5, device="cpu", graph="swin", max_pointers=0, mesh_size=32, colmap_threads=2, seed=3,
        dtype="bfloat16", head_dtype="bfloat16", align_mode="pair", captions="c.json")
    # The library's defaults for how methods run are the command's: one MethodSettings.
    assert EvalConfig().method_settings() == MethodSettings()
    assert config_from_args(EvalConfig, build_parser().parse_args(["eval", "--task", "relpose"])).chosen_task() == \
        "relpose"


def test_convert_flags_keep_their_spellings_and_aliases():
    for argv in (["--keep-training-layout", "--force"], ["--keep_training_layout", "--overwrite"]):
        args = build_parser().parse_args(["convert", "c.pth", "o", *argv, "--model", "Point3R()"])
        assert config_from_args(ConvertConfig, args) == ConvertConfig(
            checkpoint="c.pth", out_dir="o", keep_training_layout=True, overwrite=True, model="Point3R()")


def _exit_code(argv: list[str]) -> int:
    """`recon3r ARGV`'s exit code, whether argparse (SystemExit) or the command refused it."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


STREAM = ["stream", "f", "--out", "o", "--weights", "w.pth"]
EVAL = ["eval", "depth", "--benchmark", "procedural:1", "--method", "example", "--no-baselines"]


def test_depth_to_3d_flags_keep_their_spellings_and_meanings():
    args = build_parser().parse_args(["depth-to-3d", "maps", "--out", "clouds", "--overwrite", "--image", "photos",
                                      "--disparity", "--focal", "50", "--weights", "w", "--quiet"])
    assert config_from_args(DepthTo3DConfig, args) == DepthTo3DConfig(
        depth="maps", out="clouds", overwrite=True, image="photos", disparity=True, focal=50.0, weights="w",
        progress=False)


def test_single_image_flags_keep_their_spellings_and_aliases():
    args = build_parser().parse_args([
        "single-image", "--input", "cat.png", "--mode", "image", "--checkpoint_path", "w", "--config_path", "c.json",
        "--output_path", "o", "--export_mesh", "--mesh_thres", "5", "--render_views", "12", "--render_fps", "10",
        "--render_size", "64", "--source_size", "56", "--source_cam_dist", "2.5", "--no-recenter", "--frame_size", "4",
        "--steps", "3", "--seed", "7", "--overwrite", "--infer", "infer.yaml", "model_name=w"])
    assert config_from_args(SingleImageConfig, args) == SingleImageConfig(
        image=["model_name=w"], openlrm_infer="infer.yaml", input="cat.png", mode="image", weights="w",
        config_path="c.json", out="o", export_mesh=True, mesh_threshold=5.0, views=12, fps=10.0, render_size=64,
        source_size=56, source_distance=2.5, recenter=False, chunk=4, steps=3, seed=7, overwrite=True)
    hyphens = build_parser().parse_args(["single-image", "x.png", "--checkpoint-path", "w", "--output-path", "o",
                                         "--mesh-size", "64", "--text-to-image", "t", "--export-video"])
    assert config_from_args(SingleImageConfig, hyphens) == SingleImageConfig(
        image=["x.png"], weights="w", out="o", mesh_size=64, text_to_image="t", export_video=True)


@pytest.mark.parametrize("argv, message", [
    ([*STREAM, "--max-pointers", "-1"], "error: --max-pointers must be >= 0 (0: unbounded), got -1\n"),
    ([*STREAM, "--min-conf", "nan"], "error: --min-conf must be a finite number"),
    ([*STREAM, "--formats", "ply,obj"], "error: unknown export format(s) 'obj'"),
    (["stream", "f", "--out", "o"], "error: no streaming model given"),
    ([*STREAM, "--every", "x"], "error: argument --every: invalid int value: 'x'\n"),
    ([*STREAM, "--dtype", "half"], "error: argument --dtype: invalid choice: 'half'"),
    (["depth-to-3d", "d.npy", "--out", "o.txt"], "must end in .ply"),
    (["depth-to-3d", "d.npy"], "error: the following arguments are required: --out"),
    (["depth-to-3d", "d.npy", "--out", "o", "--focal", "wide"], "error: argument --focal: invalid float value"),
    (["single-image", "a.png", "b.png", "--out", "o"], "error: pass one IMAGE or folder, got 2"),
    (["single-image", "a.png"], "error: --out is required"),
    (["single-image", "a.png", "--out", "o", "--weights", "w", "--views", "0"], "error: --views must be"),
    (["single-image", "a.png", "--out", "o", "--mode", "sound"], "error: argument --mode: invalid choice"),
    ([*EVAL, "--niter", "-1"], "error: --niter must be >= 0, got -1\n"),
    ([*EVAL, "--dtype", "half"], "error: argument --dtype: invalid choice: 'half'"),
    ([*EVAL, "--dtype", "float16", "--device", "cpu"], "error: --dtype float16 needs an accelerator"),
    ([*EVAL, "--size", "x"], "error: argument --size: invalid int value: 'x'\n"),
    ([*EVAL, "--out", "o"], "error: --out o must end in .json\n"),
    ([*EVAL, "--task", "relpose"], "error: two different tasks given: 'depth' and --task 'relpose'\n"),
    ([*EVAL, "--captions", "missing.json"], "error: captions file missing.json does not exist\n"),
    # the output path is checked before any checkpoint is read
    ([*EVAL[:4], "--method", "nope.pth", "--out", "o"], "error: --out o must end in .json\n"),
    (["eval", "--benchmark", "procedural:1", "--method", "example"], "error: no task given; pass --task"),
    (["eval", "depth", "--method", "example"], "error: --benchmark is required"),
    (["eval", "depth", "--benchmark", "procedural:1"], "error: --method is required (repeatable)"),
    (["eval", "fly", *EVAL[2:]], "error: argument TASK: invalid choice: 'fly'"),
    (["convert", "c.pth"], "error: the following arguments are required: out_dir\n"),
    (["convert", "missing.pth", "o"], "error: checkpoint not found: missing.pth\n"),
])
def test_bad_values_are_one_line_errors_naming_the_flag(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # nothing is written: every value is refused before the output folder is made
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_states_only_real_defaults(command):
    text = _subparser(command).format_help()
    assert "(default: )" not in text and "(default: [])" not in text


def test_eval_library_entry_runs_the_config(tmp_path):
    from recon3r.eval.run import run_eval

    out = tmp_path / "r.json"
    done = run_eval(EvalConfig(task="depth", benchmark="procedural:1:views=2,size=32", methods=["constant-plane"],
                               out=str(out), progress=False))
    assert [m.method for m in done.result.methods] == ["constant-plane"]  # the baseline is not added twice
    assert done.out == out and out.is_file() and done.failed == [] and done.predictions_dir is None
    import json

    assert json.loads(out.read_text())["task"] == "depth"
