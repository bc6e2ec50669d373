"""`recon3r eval novel_view`: a single-image (LRM) checkpoint renders held-out views of rendered objects."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from recon3r.cli import main
from recon3r.data.procedural.objects import write_rendered_objects
from recon3r.eval.benchmarks import load_benchmark
from recon3r.eval.methods import resolve_method
from recon3r.eval.metrics import chamfer_distance, mask_iou, psnr, ssim
from recon3r.eval.novel_view import (
    MeanColourMethod,
    NovelViewMethod,
    load_object_view,
    object_cameras,
    subsample,
)
from recon3r.eval.tasks import evaluate
from recon3r.models import build_model, save_model
from recon3r.models.lrm import ModelLRM


@pytest.fixture(scope="module")
def lrm_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(build_model("ModelLRM", ModelLRM.tiny_config), tmp_path_factory.mktemp("lrm") / "tiny_lrm")


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """Three procedural objects × 3 renders at 32 px; the last one is the test split."""
    return write_rendered_objects(tmp_path_factory.mktemp("objects"), 3, 3, size=32, seed=7, test_objects=1)


def test_novel_view_command_prints_the_table_with_the_mean_colour_row(lrm_checkpoint, tmp_path, capsys):
    out = tmp_path / "novel_view.json"
    code = main(["eval", "novel_view", "--benchmark", "procedural:2:views=3,size=32", "--method", str(lrm_checkpoint),
                 "--device", "cpu", "--mesh-size", "16", "--cache", str(tmp_path / "cache"), "--out", str(out),
                 "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    assert "| method | PSNR ↑ | SSIM ↑ | mask IoU ↑ | Chamfer ↓ | objects ok | time / object (s) |" in table
    assert "| tiny_lrm |" in table and "| mean-colour |" in table and "LPIPS: not reported" in table
    report = json.loads(out.read_text())
    lrm = report["methods"][0]
    assert lrm["settings"]["system"] == "single_image" and report["benchmark"]["procedural"]["kind"] == "orbit"
    for scene in lrm["scenes"]:
        assert [f["view"] for f in scene["frames"]] == [1, 2]
        assert scene["metrics"]["psnr"] == pytest.approx(np.mean([f["psnr"] for f in scene["frames"]]))
        assert scene["seconds"] > 0
    assert lrm["aggregate"]["ssim"] == pytest.approx(np.mean([s["metrics"]["ssim"] for s in lrm["scenes"]]))


def test_render_cameras_see_the_gt_surface_through_each_pixel(objects):
    """Rays of the model-frame render cameras pass through the GT points of the same pixels (moved by the motion)."""
    from recon3r.geometry.cameras import opencv_opengl_pose
    from recon3r.geometry.rays import pixel_rays, region_pixel_centers

    scene = load_benchmark(str(objects), "novel_view").scenes[0]
    cameras = object_cameras(scene)
    motion = cameras.motion.numpy()
    # View 0 lands on the canonical source pose (OpenGL axes) at its own distance from the object.
    source_pose = cameras.source[0, :12].reshape(3, 4).numpy()
    distance = np.linalg.norm(scene.world_from_cam[0][:3, 3])
    np.testing.assert_allclose(source_pose, [[1, 0, 0, 0], [0, 0, -1, -distance], [0, 1, 0, 0]], atol=1e-9)
    for v in range(len(scene)):
        depth = np.load(str(scene.image_paths[v]).replace(".png", "_depth.npy"))
        rows, cols = np.nonzero(depth > 0)
        k = scene.intrinsics[v]
        cam_points = np.stack([(cols - k[0, 2]) / k[0, 0], (rows - k[1, 2]) / k[1, 1], np.ones(len(rows))], -1)
        cam_points *= depth[rows, cols, None]
        world = cam_points @ scene.world_from_cam[v][:3, :3].T + scene.world_from_cam[v][:3, 3]
        model_points = world @ motion[:3, :3].T + motion[:3, 3]
        vector = cameras.render[v]
        pose = opencv_opengl_pose(vector[:16].reshape(1, 4, 4))
        size = cameras.sizes[v][0]
        pixels = region_pixel_centers(torch.tensor([size]), torch.zeros(1, 2, dtype=torch.float64), size)
        origins, directions = pixel_rays(pose, vector[16:].reshape(1, 3, 3), pixels)
        index = rows * size + cols
        o, d = origins[0, index].numpy(), directions[0, index].numpy()
        offset = model_points - o
        assert np.abs(np.cross(offset, d)).max() < 1e-9 * max(1.0, float(np.abs(offset).max())) + 1e-6
        assert ((offset * d).sum(-1) > 0).all()


def test_chamfer_compares_the_mesh_moved_back_to_the_world_with_the_gt_points(lrm_checkpoint, objects):
    model = resolve_method(str(lrm_checkpoint), device="cpu").load()
    # Threshold 0: every density exceeds it, so the mesh is the box [-1, 1]³ of the model frame.
    method = NovelViewMethod(model=model, name="boxed", mesh_size=8, mesh_threshold=0.0)
    benchmark = load_benchmark(str(objects), "novel_view")
    assert [s.name for s in benchmark.scenes] == ["object_00002"]  # the test split of splits.json
    result = evaluate("novel_view", benchmark, [method], keep_predictions=True, progress=False)
    scene = benchmark.scenes[0]
    prediction = result.predictions[("boxed", scene.name)]
    cameras = object_cameras(scene)
    moved = prediction.surface @ cameras.motion[:3, :3].numpy().T + cameras.motion[:3, 3].numpy()
    assert np.abs(moved).max() == pytest.approx(1.0, abs=1e-5) and (np.abs(moved).max(-1) > 1 - 1e-5).all()
    direct = chamfer_distance(prediction.surface, subsample(scene.surface_points))
    metrics = result.methods[0].scenes[0].metrics
    assert metrics["chamfer"] == pytest.approx(direct["chamfer"]) and metrics["chamfer"] > 0
    assert result.methods[0].aggregate["surfaces"] == 1


def test_mean_colour_baseline_fills_the_input_silhouette(objects):
    benchmark = load_benchmark(str(objects), "novel_view")
    result = evaluate("novel_view", benchmark, [MeanColourMethod()], keep_predictions=True, progress=False)
    scene = benchmark.scenes[0]
    prediction = result.predictions[("mean-colour", scene.name)]
    source = load_object_view(scene.image_paths[0])
    colour = source[scene.masks[0]].mean(axis=0)
    frames = result.methods[0].scenes[0].frames
    for v in (1, 2):
        np.testing.assert_array_equal(prediction.render_masks[v], scene.masks[0])
        np.testing.assert_allclose(prediction.renders[v][scene.masks[0]], np.broadcast_to(colour, (scene.masks[0].sum(), 3)))
        gt = load_object_view(scene.image_paths[v])
        assert frames[v - 1]["psnr"] == pytest.approx(psnr(prediction.renders[v], gt))
        assert frames[v - 1]["ssim"] == pytest.approx(ssim(prediction.renders[v], gt))
        assert frames[v - 1]["mask_iou"] == pytest.approx(mask_iou(scene.masks[0], scene.masks[v]))
    assert np.isnan(result.methods[0].aggregate["chamfer"])


def test_a_folder_that_is_not_rendered_objects_is_refused(tmp_path, capsys):
    (tmp_path / "empty_object").mkdir()
    assert main(["eval", "novel_view", "--benchmark", str(tmp_path), "--method", "mean-colour", "--quiet"]) == 2
    assert "is not a rendered-objects folder" in capsys.readouterr().err
