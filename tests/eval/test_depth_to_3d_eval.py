"""`recon3r eval depth_to_3d`: shift, focal and point errors of a depth-to-3D model beside both baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recon3r.cli import main
from recon3r.eval.benchmarks import load_benchmark
from recon3r.eval.depth_to_3d import (
    Depth3DMethod,
    FovGuessMethod,
    NoCorrectionMethod,
    evaluate_recovery,
    held_out_depth_views,
    make_trials,
    read_depth_folder,
)
from recon3r.eval.tasks import evaluate


def rows(table: str) -> dict[str, list[str]]:
    out = {}
    for line in table.splitlines():
        if line.startswith("| ") and not line.startswith("| method"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[cells[0]] = cells[1:]
    return out


def test_shipped_model_and_both_baselines_in_one_table(tmp_path, capsys):
    out = tmp_path / "d3.json"
    code = main(["eval", "depth_to_3d", "--benchmark", "procedural:6:size=32", "--method", "depth3d", "--device", "cpu",
                 "--out", str(out), "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    found = rows(table)
    assert list(found) == ["depth3d", "no-correction", "fov-60"]
    assert "| method | shift error ↓ | focal error (%) ↓ | point error ↓ | maps ok | time / map (ms) |" in table
    report = json.loads(out.read_text())
    assert report["options"]["focal_guess"] == "random" and report["options"]["distortion_seed"] == 1
    # The aggregates are the medians of evaluate_recovery on the same maps and distortions.
    from recon3r.depth3d import load_default_model

    views = held_out_depth_views(6, size=32, seed=0, split="test")
    for entry, model in zip(report["methods"][:2], (load_default_model(), None)):
        summary = evaluate_recovery(model, views, seed=1).summary()
        assert entry["aggregate"]["shift_error"] == pytest.approx(summary["shift_error"], abs=1e-9)
        assert entry["aggregate"]["focal_error_pct"] == pytest.approx(summary["focal_error_pct"], abs=1e-7)
        assert entry["aggregate"]["point_error"] == pytest.approx(summary["point_error"], abs=1e-9)
        assert entry["aggregate"]["scenes"] == 6 and entry["aggregate"]["failed"] == 0
    # The baselines leave the shift alone: their shift error is the true shift.
    trials = make_trials(views, 1)
    baseline = report["methods"][1]
    assert [s["metrics"]["shift_error"] for s in baseline["scenes"]] == pytest.approx(
        [abs(t.distorted.shift) for t in trials])


def test_with_the_60_degree_guess_no_correction_is_the_fov_baseline():
    benchmark = load_benchmark("procedural:3:size=32,kind=object", "depth_to_3d")
    assert all((view.depth > 0).mean() < 0.9 for view in benchmark.scenes)  # depth on the object only
    result = evaluate("depth_to_3d", benchmark, [NoCorrectionMethod(), FovGuessMethod()], focal_guess="fov60",
                      progress=False)
    for key in ("shift_error", "focal_error_pct", "point_error"):
        assert result.methods[0].aggregate[key] == pytest.approx(result.methods[1].aggregate[key], rel=0, abs=1e-12)
    assert result.methods[1].aggregate["focal_error_pct"] > 0


def test_train3d_folder_reader_reads_depth_mask_and_intrinsics(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "depths").mkdir()
    (tmp_path / "intrinsics").mkdir()
    depth = rng.uniform(1, 3, (24, 32))
    depth[0, 0], depth[0, 1], depth[0, 2] = np.nan, -1.0, np.inf
    mask = np.ones((24, 32), bool)
    mask[5] = False
    k = np.array([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]])
    np.savez(tmp_path / "depths" / "0000.npz", depth=depth, mask=mask)
    np.save(tmp_path / "intrinsics" / "0000.npy", k)
    np.savez(tmp_path / "depths" / "0001.npz", anything=depth[::2, ::2])  # the only 2-D array is the depth
    np.save(tmp_path / "intrinsics" / "0001.npy", np.array([20.0, 20.0, 7.5, 5.5]))
    first, second = read_depth_folder(tmp_path)
    assert first.name == "0000" and second.name == "0001"
    valid = np.isfinite(depth) & (depth > 0) & mask
    np.testing.assert_array_equal(first.depth > 0, valid)
    np.testing.assert_allclose(first.depth[valid], depth[valid], rtol=1e-6)
    np.testing.assert_array_equal(first.intrinsics, k)
    np.testing.assert_array_equal(second.intrinsics, [[20, 0, 7.5], [0, 20, 5.5], [0, 0, 1]])
    benchmark = load_benchmark(str(tmp_path), "depth_to_3d")
    assert len(benchmark.scenes) == 2 and "Train-3D" in benchmark.description


def test_train3d_folder_errors_name_the_file(tmp_path, capsys):
    (tmp_path / "depths").mkdir()
    np.savez(tmp_path / "depths" / "0007.npz", depth=np.ones((8, 8)))
    assert main(["eval", "depth_to_3d", "--benchmark", str(tmp_path), "--method", "no-correction", "--quiet"]) == 2
    assert f"{tmp_path / 'depths' / '0007.npz'}: no intrinsics" in capsys.readouterr().err


def test_a_map_the_model_cannot_recover_fails_alone():
    from recon3r.depth3d import load_default_model
    from recon3r.eval.depth_to_3d import DepthView

    views = held_out_depth_views(2, size=32, split="test")
    sparse = np.zeros_like(views[0].depth)
    sparse[:2, :3] = 2.0  # 6 valid pixels: too few to sample a cloud
    from recon3r.eval.benchmarks import Benchmark

    benchmark = Benchmark("mixed", "mixed", [views[0], DepthView(sparse, views[0].intrinsics, name="sparse"), views[1]])
    result = evaluate("depth_to_3d", benchmark, [Depth3DMethod(model=load_default_model(), name="shipped")],
                      progress=False)
    scenes = result.methods[0].scenes
    assert [s.metrics is None for s in scenes] == [False, True, False] and "at least 16 pixels" in scenes[1].error
    assert result.methods[0].aggregate["failed"] == 1 and result.methods[0].aggregate["scenes"] == 3
