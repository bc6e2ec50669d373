"""`recon3r eval`: tables and JSON equal direct metric calls; every task; COLMAP; errors that name the value."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from recon3r.cli import main
from recon3r.data.multiview import split_seed
from recon3r.data.procedural import write_procedural
from recon3r.errors import ConfigError
from recon3r.eval.benchmarks import load_benchmark
from recon3r.eval.methods import ColmapMethod, ConstantPlaneMethod, LearnedMethod, resolve_method
from recon3r.eval.metrics import (
    depth_metrics,
    pointcloud_metrics,
    pointmap_normals,
    relpose_metrics,
    trajectory_metrics,
)
from recon3r.eval.report import format_table, to_json
from recon3r.eval.tasks import evaluate, gt_depth_on_grid, gt_points_on_grid
from recon3r.models import build_model, save_model

TINY = dict(enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2,
            img_size=(224, 224), head_type="linear", pos_embed="RoPE100", landscape_only=False)


class ParallaxPlaneModel(torch.nn.Module):
    """A pair-model stand-in with exact, finite geometry, so every task has numbers to check.

    Camera k sits at x = 0.1·k looking down +z (60° FOV); each pixel's depth is 2 + 0.5·its grey
    level. (Random-weight models give point maps global alignment cannot place: NaN poses.)
    """

    config = {"img_size": (224, 224)}

    def forward(self, view1: dict, view2: dict) -> tuple[dict, dict]:
        def own_points(view: dict) -> torch.Tensor:
            img = view["img"]
            batch, _, height, width = img.shape
            focal = 0.5 * width / math.tan(math.radians(30))
            ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                                    torch.arange(width, dtype=torch.float32), indexing="ij")
            rays = torch.stack([(xs - (width - 1) / 2) / focal, (ys - (height - 1) / 2) / focal, torch.ones_like(xs)], -1)
            depth = 2 + 0.25 * (img.mean(1) + 1)  # (B, H, W)
            return rays * depth[..., None]

        offset = 0.1 * (torch.tensor(view2["idx"]) - torch.tensor(view1["idx"])).float()
        pts2 = own_points(view2)
        pts2[..., 0] += offset[:, None, None]
        conf1 = torch.full(view1["img"].shape[:1] + view1["img"].shape[2:], 5.0)
        conf2 = torch.full(view2["img"].shape[:1] + view2["img"].shape[2:], 5.0)
        return {"pts3d": own_points(view1), "conf": conf1}, {"pts3d_in_other_view": pts2, "conf": conf2}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(build_model("AsymmetricCroCo3DStereo", TINY), tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Three held-out procedural scenes of three views each, per camera path, rendered small."""
    root = tmp_path_factory.mktemp("procedural")
    for kind in ("pairs", "sequence"):
        write_procedural(root / kind, 3, 3, size=64, seed=split_seed(0, "test"), kind=kind)
    return root


def planar_method() -> LearnedMethod:
    return LearnedMethod(model=ParallaxPlaneModel(), name="parallax-plane", size=224, niter=10, device="cpu")


def table_row(table: str, method: str) -> list[str]:
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == method:
            return cells[1:]
    raise AssertionError(f"no row for {method} in\n{table}")


def assert_cell(cell: str, value: float) -> None:
    digits = len(cell.split(".")[1]) if "." in cell else 0
    assert float(cell) == pytest.approx(value, abs=0.5 * 10**-digits + 1e-12)


# ------------------------------------------------------------------------------------------------
# The command


def test_relpose_command_table_and_json_equal_direct_metric_calls(tiny_checkpoint, tmp_path, capsys):
    out, saved = tmp_path / "results.json", tmp_path / "predictions"
    code = main(["eval", "--task", "relpose", "--benchmark", "procedural:3:views=3,size=96", "--method",
                 str(tiny_checkpoint), "--method", "colmap", "--size", "224", "--niter", "5", "--device", "cpu",
                 "--out", str(out), "--save-predictions", str(saved), "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["task"] == "relpose" and report["benchmark"]["procedural"]["scenes"] == 3
    assert [m["method"] for m in report["methods"]] == [tiny_checkpoint.name, "colmap"]
    for entry in report["methods"]:
        folder = saved / re.sub(r"[^\w.+-]+", "_", entry["method"])
        per_scene = []
        for scene in entry["scenes"]:
            arrays = np.load(folder / f"{scene['scene']}.npz")
            direct = relpose_metrics(arrays["world_from_cam"], arrays["gt_world_from_cam"], thresholds=(5, 15, 30))
            assert scene["metrics"] == direct
            per_scene.append(direct)
        aggregate = entry["aggregate"]
        for key in ("RRA@5", "RTA@5", "RRA@15", "RTA@15", "mAA@30"):
            assert aggregate[key] == pytest.approx(np.mean([m[key] for m in per_scene]), abs=1e-12)
        assert aggregate["registered"] == sum(m["registered"] for m in per_scene)
        assert aggregate["images"] == 9 and aggregate["pairs"] == 9
        row = table_row(table, entry["method"])
        for cell, key in zip(row, ("RRA@15", "RTA@15", "mAA@30", "RRA@5", "RTA@5")):
            assert_cell(cell, aggregate[key])
        assert row[5] == f"{int(aggregate['registered'])}/9"


def test_task_can_be_given_as_positional_argument(shared_path, capsys):
    code = main(["eval", "depth", "--benchmark", str(shared_path("data", "middlebury2003_teddy")), "--method", "constant-plane",
                 "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    assert "### depth on `middlebury2003_teddy`" in table and "`median` alignment" in table
    assert table_row(table, "constant-plane")[-2] == "1/1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--benchmark", "no_such_set", "--method", "constant-plane"], "unknown benchmark 'no_such_set'"),
        (["--benchmark", "procedural:two", "--method", "constant-plane"], "bad procedural benchmark 'procedural:two'"),
        (["--benchmark", "procedural:2:view=3", "--method", "constant-plane"], "bad option 'view=3'"),
        (["--benchmark", "procedural:1", "--method", "dust4r"], "unknown method 'dust4r'"),
        (["--benchmark", "procedural:1", "--method", "colmap"], "method 'colmap' cannot be evaluated on task 'depth'"),
    ],
)
def test_bad_names_give_errors_naming_the_value(argv, message, capsys):
    assert main(["eval", "--task", "depth", *argv, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_missing_example_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("recon3r.assets.example_model_path", lambda: tmp_path / "example_model")
    with pytest.raises(ConfigError, match="example model is not installed"):
        resolve_method("example")


def test_benchmark_without_the_tasks_ground_truth_is_rejected(shared_path):
    with pytest.raises(ConfigError, match="no GT depth; task 'depth' needs it"):
        load_benchmark(str(shared_path("data", "middlebury_dino_sparse_ring")), "depth")
    with pytest.raises(ConfigError, match="trajectory needs 3 or more frames"):
        load_benchmark(str(shared_path("data", "middlebury2003_teddy")), "trajectory")


# ------------------------------------------------------------------------------------------------
# Every task through the library: aggregates equal direct metric calls on the same predictions


def test_relpose_aggregates_direct_calls(scenes):
    benchmark = load_benchmark(str(scenes / "pairs"), "relpose")
    result = evaluate("relpose", benchmark, [planar_method()], keep_predictions=True, progress=False)
    per_scene = []
    for scene in benchmark.scenes:
        pred = result.predictions[("parallax-plane", scene.name)]
        assert np.isfinite(pred.world_from_cam).all()
        per_scene.append(relpose_metrics(pred.world_from_cam, scene.world_from_cam, thresholds=(5, 15, 30)))
    aggregate = result.methods[0].aggregate
    assert aggregate["mAA@30"] == pytest.approx(np.mean([m["mAA@30"] for m in per_scene]), abs=1e-12)
    assert aggregate["registered"] == 9 and aggregate["failed"] == 0
    assert_cell(table_row(format_table(result), "parallax-plane")[2], aggregate["mAA@30"])


def test_depth_is_scored_per_frame_after_median_alignment(scenes):
    benchmark = load_benchmark(str(scenes / "pairs"), "depth")
    methods = [planar_method(), ConstantPlaneMethod()]
    result = evaluate("depth", benchmark, methods, keep_predictions=True, progress=False)
    for method, outcome in zip(methods, result.methods):
        frames = []
        for scene in benchmark.scenes:
            pred = result.predictions[(method.name, scene.name)]
            for v in range(len(scene)):
                gt, valid = gt_depth_on_grid(scene.depths[v], pred.transforms[v])
                frames.append(depth_metrics(pred.depths[v], gt, valid, align="median"))
        assert len(frames) == 9 == outcome.aggregate["frames"]
        for key in ("abs_rel", "delta_1", "rmse"):
            assert outcome.aggregate[key] == pytest.approx(np.mean([f[key] for f in frames]), abs=1e-12)
        assert_cell(table_row(format_table(result), method.name)[0], outcome.aggregate["abs_rel"])
    # Constant depth after median scaling is exact only where the scene is a fronto-parallel plane.
    assert result.methods[1].aggregate["abs_rel"] > 0.01


def test_video_depth_fits_one_scale_per_sequence(scenes):
    benchmark = load_benchmark(str(scenes / "sequence"), "video_depth")
    result = evaluate("video_depth", benchmark, [planar_method()], keep_predictions=True, progress=False)
    per_scene = []
    for scene in benchmark.scenes:
        pred = result.predictions[("parallax-plane", scene.name)]
        grids = [gt_depth_on_grid(scene.depths[v], pred.transforms[v]) for v in range(len(scene))]
        per_scene.append(depth_metrics(np.stack(pred.depths), np.stack([g for g, _ in grids]),
                                       np.stack([m for _, m in grids]), align="scale"))
    aggregate = result.methods[0].aggregate
    assert result.options["depth_align"] == "scale" and aggregate["frames"] == 9
    assert aggregate["abs_rel"] == pytest.approx(np.mean([m["abs_rel"] for m in per_scene]), abs=1e-12)
    assert "after one `scale` alignment per sequence" in format_table(result)


def test_trajectory_aggregates_ate_and_rpe(scenes):
    benchmark = load_benchmark(str(scenes / "sequence"), "trajectory")
    result = evaluate("trajectory", benchmark, [planar_method()], keep_predictions=True, progress=False)
    per_scene = [trajectory_metrics(result.predictions[("parallax-plane", s.name)].world_from_cam, s.world_from_cam)
                 for s in benchmark.scenes]
    aggregate = result.methods[0].aggregate
    for key in ("ate", "rpe_trans", "rpe_rot"):
        assert aggregate[key] == pytest.approx(np.mean([m[key] for m in per_scene]), abs=1e-12)
        assert aggregate[key] > 0
    row = table_row(format_table(result), "parallax-plane")
    assert_cell(row[0], aggregate["ate"]) and assert_cell(row[2], aggregate["rpe_rot"])


def test_mv_recon_compares_world_points_of_the_same_pixels(scenes):
    benchmark = load_benchmark(str(scenes / "pairs"), "mv_recon")
    benchmark.scenes = benchmark.scenes[:2]
    methods = [planar_method(), ConstantPlaneMethod()]
    result = evaluate("mv_recon", benchmark, methods, max_points=4000, keep_predictions=True, progress=False)
    for method, outcome in zip(methods, result.methods):
        per_scene = []
        for scene in benchmark.scenes:
            pred = result.predictions[(method.name, scene.name)]
            preds, gts, pred_n, gt_n = [], [], [], []
            for v in range(len(scene)):
                gt, valid = gt_points_on_grid(scene.depths[v], scene.intrinsics[v], scene.world_from_cam[v],
                                              pred.transforms[v])
                preds.append(pred.points[v][valid])
                gts.append(gt[valid])
                pred_n.append(pointmap_normals(np.asarray(pred.points[v], dtype=np.float64))[valid])
                gt_n.append(pointmap_normals(gt)[valid])
            step = -(-sum(len(p) for p in preds) // 4000)  # every k-th pixel, at most 4000
            preds, gts, pred_n, gt_n = (np.concatenate(x)[::step] for x in (preds, gts, pred_n, gt_n))
            assert len(preds) <= 4000
            per_scene.append(pointcloud_metrics(preds, gts, align="sim3", pred_normals=pred_n, gt_normals=gt_n))
        for key in ("acc", "comp", "nc", "nc_med"):
            assert outcome.aggregate[key] == pytest.approx(np.mean([m[key] for m in per_scene]), rel=1e-9)
        assert outcome.aggregate["acc"] > 0 and 0 < outcome.aggregate["nc"] <= 1


def test_json_has_per_scene_and_aggregate_numbers(scenes, tmp_path):
    from recon3r.eval.report import write_json

    benchmark = load_benchmark(str(scenes / "pairs"), "depth")
    result = evaluate("depth", benchmark, [ConstantPlaneMethod()], progress=False)
    data = json.loads(write_json(result, tmp_path / "sub" / "out.json").read_text())
    method = data["methods"][0]
    assert method["settings"] == {"name": "constant-plane", "type": "baseline", "fov_degrees": 60.0}
    assert [s["scene"] for s in method["scenes"]] == [s.name for s in benchmark.scenes]
    assert len(method["scenes"][0]["frames"]) == 3
    assert method["aggregate"]["abs_rel"] == result.methods[0].aggregate["abs_rel"]
    assert data["options"] == {"depth_align": "median"} and "torch" in data["versions"]


def test_failed_scenes_are_reported_not_dropped(scenes):
    class Flaky(ConstantPlaneMethod):
        name = "flaky"

        def predict(self, scene):
            if scene.name.endswith("1"):
                from recon3r.errors import Recon3rError

                raise Recon3rError("alignment diverged")
            return super().predict(scene)

    benchmark = load_benchmark(str(scenes / "pairs"), "depth")
    result = evaluate("depth", benchmark, [Flaky()], progress=False)
    aggregate = result.methods[0].aggregate
    assert aggregate["failed"] == 1 and aggregate["frames"] == 6
    table = format_table(result)
    assert table_row(table, "flaky")[-2] == "2/3" and "flaky failed on scene_00001: alignment diverged" in table
    assert to_json(result)["methods"][0]["scenes"][1]["metrics"] is None


# ------------------------------------------------------------------------------------------------
# Benchmark sets and methods


def test_procedural_spec_renders_held_out_scenes_once(tmp_path):
    first = load_benchmark("procedural:2:views=2,size=32", "relpose", cache_dir=tmp_path)
    assert len(first) == 2 and all(len(s) == 2 for s in first.scenes)
    assert first.meta["procedural"] == {"scenes": 2, "views": 2, "kind": "pairs", "size": 32, "seed": 0}
    files = sorted(p.stat().st_mtime_ns for p in tmp_path.rglob("*.png"))
    again = load_benchmark("procedural:2:views=2,size=32", "relpose", cache_dir=tmp_path)
    assert sorted(p.stat().st_mtime_ns for p in tmp_path.rglob("*.png")) == files  # reused, not re-rendered
    np.testing.assert_array_equal(first.scenes[1].world_from_cam, again.scenes[1].world_from_cam)
    # The test split is a different scene stream from training.
    from recon3r.data.procedural import generate_scene

    train = generate_scene(0, 0, "pairs", 2, 32).cameras[0].world_from_cam
    assert not np.allclose(train, first.scenes[0].world_from_cam[0])
    assert load_benchmark("procedural:1:views=3,size=32", "trajectory", cache_dir=tmp_path).scenes[0].kind == "sequence"


def test_real_sets_load_with_their_ground_truth(shared_path):
    ring = load_benchmark(str(shared_path("data", "middlebury_dino_sparse_ring")), "relpose")
    assert len(ring.scenes[0]) == 16 and ring.scenes[0].depths is None
    teddy = load_benchmark(str(shared_path("data", "middlebury2003_teddy")), "relpose").scenes[0]
    assert teddy.depth_scale_free and teddy.has_depth(0) and not teddy.has_depth(1)
    # Rectified pair: same orientation, the right camera to the right (+x) of the left one.
    np.testing.assert_array_equal(teddy.world_from_cam[1][:3, :3], np.eye(3))
    assert teddy.world_from_cam[1][0, 3] > 0 and teddy.world_from_cam[1][1:3, 3].tolist() == [0, 0]


def test_scale_free_depth_refuses_metric_evaluation(shared_path):
    benchmark = load_benchmark(str(shared_path("data", "middlebury2003_teddy")), "depth")
    with pytest.raises(ConfigError, match="depth only up to scale"):
        evaluate("depth", benchmark, [ConstantPlaneMethod()], depth_align="none", progress=False)


def test_gt_sampling_follows_the_network_crop():
    from recon3r.io.images import plan_resize

    depth = np.arange(300 * 400, dtype=np.float64).reshape(300, 400) + 1
    transform = plan_resize((400, 300), size=224)  # scale 224/300, centre crop 224×224
    grid, valid = gt_depth_on_grid(depth, transform)
    assert grid.shape == (224, 224) and valid.all()
    # Network pixel (x, y) comes from file pixel ((x + 0.5 + crop) / s − 0.5), rounded.
    s, (cx, cy) = transform.scale, transform.crop_offset
    for x, y in ((0, 0), (100, 37), (223, 223)):
        col, row = round((x + 0.5 + cx) / s - 0.5), round((y + 0.5 + cy) / s - 0.5)
        assert grid[y, x] == depth[row, col]
    # GT points of a plane z = 3 seen by a camera at the origin lie on that plane.
    k = np.array([[300.0, 0, 199.5], [0, 300.0, 149.5], [0, 0, 1]])
    points, valid = gt_points_on_grid(np.full((300, 400), 3.0), k, np.eye(4), transform)
    np.testing.assert_allclose(points[..., 2], 3.0)
    np.testing.assert_allclose(points[112, 112, :2], 3 * (np.array([112, 112]) + 0.5 + np.array([cx, cy])) / s / 300
                               - 3 * (0.5 + np.array([199.5, 149.5])) / 300, atol=1e-12)


def test_colmap_failures_count_in_relpose(tmp_path):
    """COLMAP beside a learned method: it registers all of one scene and none of the other."""
    from recon3r.data.format import write_dataset, write_scene
    from recon3r.data.procedural import generate_scene

    for index in (0, 4):  # held-out scenes 0 (too few SIFT matches) and 4 (rich texture)
        scene = generate_scene(split_seed(0, "test"), index, "pairs", 4, 224)
        renders = [scene.render(v) for v in range(4)]
        write_scene(tmp_path / scene.name, [r.rgb for r in renders], [c.intrinsics for c in scene.cameras],
                    [c.world_from_cam for c in scene.cameras], [r.depth for r in renders], kind="pairs")
    write_dataset(tmp_path, ["scene_00000", "scene_00004"])
    benchmark = load_benchmark(str(tmp_path), "relpose")
    result = evaluate("relpose", benchmark, [ColmapMethod(), planar_method()], keep_predictions=True, progress=False)
    colmap = result.methods[0]
    for scene, scored in zip(benchmark.scenes, colmap.scenes):
        pred = result.predictions[("colmap", scene.name)]
        assert scored.metrics == relpose_metrics(pred.world_from_cam, scene.world_from_cam, thresholds=(5, 15, 30))
        assert scored.metrics["registered"] == pred.registered.sum()
        ok = pred.registered.sum()  # a missing image caps the accuracy at the share of pairs it is not in
        assert scored.metrics["RRA@30"] <= 100 * ok * (ok - 1) / 2 / scored.metrics["pairs"] + 1e-9
    assert [s.metrics["registered"] for s in colmap.scenes] == [0, 4]
    assert colmap.scenes[1].metrics["RRA@5"] == 100  # what COLMAP registers, it gets right
    assert colmap.aggregate["registered"] == 4 and colmap.aggregate["images"] == 8
    assert colmap.aggregate["RRA@5"] == 50 and colmap.settings["intrinsics"] == "unknown (COLMAP defaults)"
    assert table_row(format_table(result), "colmap")[5] == "4/8"


def test_non_finite_predicted_depth_fails_the_scene_with_a_reason():
    from recon3r.eval.benchmarks import BenchmarkScene
    from recon3r.eval.methods import Prediction
    from recon3r.eval.tasks import score_scene
    from recon3r.scene import ImageTransform

    scene = BenchmarkScene("s", [Path("a.png")], np.eye(4)[None], depths=[np.ones((4, 6))])
    identity = ImageTransform((6, 4), 1.0, (0.0, 0.0), (6, 4))
    nan = Prediction(np.full((1, 4, 4), np.nan), depths=[np.full((4, 6), np.nan)], transforms=[identity])
    result = score_scene("depth", nan, scene)
    assert result.metrics is None and "predicted depth is not finite" in result.error
    good = Prediction(np.eye(4)[None], depths=[np.full((4, 6), 2.0)], transforms=[identity])
    assert score_scene("depth", good, scene).metrics["abs_rel"] == 0.0
