"""`recon3r eval` runs a streaming (Point3R) checkpoint: frames in order, predictions straight from the stream."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from recon3r.cli import main
from recon3r.eval.benchmarks import load_benchmark
from recon3r.eval.methods import StreamMethod, resolve_method
from recon3r.eval.metrics import trajectory_metrics
from recon3r.eval.tasks import evaluate
from recon3r.models import build_model, save_model
from recon3r.models.point3r import Point3R
from recon3r.stream.reconstruct import reconstruct_stream

SEQUENCES = "procedural:2:kind=sequence,views=4,size=64"


@pytest.fixture(scope="module")
def point3r_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(build_model("Point3R", Point3R.tiny_config), tmp_path_factory.mktemp("point3r") / "tiny_point3r")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sets")


def rows(table: str) -> dict[str, list[str]]:
    out = {}
    for line in table.splitlines():
        if line.startswith("| ") and not line.startswith("| method"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[cells[0]] = cells[1:]
    return out


def test_trajectory_of_a_point3r_checkpoint_prints_ate_and_rpe(point3r_checkpoint, cache, tmp_path, capsys):
    out = tmp_path / "trajectory.json"
    code = main(["eval", "trajectory", "--benchmark", SEQUENCES, "--method", str(point3r_checkpoint), "--size", "64",
                 "--device", "cpu", "--cache", str(cache), "--out", str(out), "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    assert "| method | ATE ↓ | RPE trans ↓ | RPE rot (°) ↓ |" in table
    found = rows(table)
    assert set(found) == {"tiny_point3r", "constant-velocity"}  # the checkpoint and the baseline row
    report = json.loads(out.read_text())
    stream = report["methods"][0]
    assert stream["settings"]["system"] == "stream" and stream["settings"]["global_alignment"] is False
    for scene in stream["scenes"]:
        assert len(scene["info"]["ms_per_frame"]) == 4 and all(t > 0 for t in scene["info"]["ms_per_frame"])
        assert scene["info"]["peak_memory_mb"] > 0 and scene["info"]["memory_measure"]
        assert np.isfinite([scene["metrics"]["ate"], scene["metrics"]["rpe_trans"], scene["metrics"]["rpe_rot"]]).all()
    assert stream["aggregate"]["ms_per_frame"] == pytest.approx(
        np.mean([t for s in stream["scenes"] for t in s["info"]["ms_per_frame"]]))
    assert f"{stream['aggregate']['ate']:.4f}" == found["tiny_point3r"][0]
    assert "ms / frame" in table and "peak memory" in table


def test_video_depth_prints_scale_and_scale_and_shift_with_the_baseline_row(point3r_checkpoint, cache, capsys):
    code = main(["eval", "video_depth", "--benchmark", SEQUENCES, "--method", str(point3r_checkpoint), "--size", "64",
                 "--device", "cpu", "--cache", str(cache), "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    assert "AbsRel s&s ↓" in table
    found = rows(table)
    assert set(found) == {"tiny_point3r", "constant-plane"} and found["constant-plane"][-2] == "2/2"


def test_stream_predictions_come_straight_from_the_stream(point3r_checkpoint, cache):
    method = resolve_method(str(point3r_checkpoint), size=64, device="cpu")
    assert isinstance(method, StreamMethod) and method.model_class == "Point3R"
    benchmark = load_benchmark(SEQUENCES, "trajectory", cache_dir=cache)
    result = evaluate("trajectory", benchmark, [method], keep_predictions=True, progress=False)
    scene = benchmark.scenes[0]
    prediction = result.predictions[(method.name, scene.name)]
    direct = reconstruct_stream([str(p) for p in scene.image_paths], method.model, size=64)
    np.testing.assert_allclose(prediction.world_from_cam, direct.world_from_cam, atol=1e-6)
    np.testing.assert_allclose(np.stack(prediction.points), direct.points, atol=1e-6)
    np.testing.assert_allclose(np.stack(prediction.depths), direct.points_cam[..., 2], atol=1e-6)
    assert result.methods[0].scenes[0].metrics == trajectory_metrics(prediction.world_from_cam, scene.world_from_cam)


def test_monodepth_feeds_each_frame_alone(point3r_checkpoint, cache):
    method = resolve_method(str(point3r_checkpoint), size=64, device="cpu")
    benchmark = load_benchmark(SEQUENCES, "depth", cache_dir=cache)
    benchmark.scenes = benchmark.scenes[:1]
    scene = benchmark.scenes[0]
    alone = evaluate("depth", benchmark, [method], keep_predictions=True, progress=False)
    prediction = alone.predictions[(method.name, scene.name)]
    assert prediction.world_from_cam is None and prediction.info["fed"] == "each frame alone"
    for k in (0, 2):
        single = reconstruct_stream([str(scene.image_paths[k])], method.model, size=64)
        np.testing.assert_allclose(prediction.depths[k], single.depths[0], atol=1e-6)
    in_order = evaluate("video_depth", benchmark, [method], keep_predictions=True, progress=False)
    streamed = in_order.predictions[(method.name, scene.name)]
    np.testing.assert_allclose(streamed.depths[0], prediction.depths[0], atol=1e-6)  # frame 0 is alone either way
    assert not np.allclose(streamed.depths[2], prediction.depths[2], atol=1e-4)  # later frames see the memory


def test_mv_recon_and_relpose_run_on_a_recon3r_format_folder(point3r_checkpoint, tmp_path, capsys):
    from recon3r.data.multiview import split_seed
    from recon3r.data.procedural import write_procedural

    folder = write_procedural(tmp_path / "set", 1, 3, size=64, seed=split_seed(5, "test"), kind="sequence")
    for task, header in (("mv_recon", "Acc ↓"), ("relpose", "RRA@15")):
        code = main(["eval", task, "--benchmark", str(folder), "--method", str(point3r_checkpoint), "--size", "64",
                     "--device", "cpu", "--max-points", "1000", "--no-baselines", "--quiet"])
        assert code == 0
        table = capsys.readouterr().out
        assert header in table and set(rows(table)) == {"tiny_point3r"}
