"""`recon3r depth-to-3d` end to end through the real CLI entry point."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from recon3r.cli import main
from recon3r.depth3d import load_default_model, recover_shift_and_focal


@pytest.fixture
def depth_npy(tmp_path, test_views):
    path = tmp_path / "depth.npy"
    np.save(path, test_views[0].depth * 3.0 + 0.5 * (test_views[0].depth > 0))
    return path


def _ply_vertices(path):
    from plyfile import PlyData

    return PlyData.read(str(path))["vertex"]


def test_npy_depth_to_coloured_ply(depth_npy, tmp_path, test_views, capsys):
    out = tmp_path / "cloud.ply"
    image = tmp_path / "rgb.png"
    Image.fromarray(test_views[0].rgb).save(image)
    assert main(["depth-to-3d", str(depth_npy), "--out", str(out), "--image", str(image)]) == 0
    printed = capsys.readouterr().out
    assert "shift:" in printed and "focal:" in printed
    expected = recover_shift_and_focal(np.load(depth_npy), None, load_default_model())
    vertices = _ply_vertices(out)
    assert len(vertices) == int(expected.valid.sum()) > 0
    np.testing.assert_allclose(vertices["z"], expected.points[expected.valid][:, 2].numpy(), rtol=1e-6)
    rgb = test_views[0].rgb[expected.valid.numpy()]
    assert np.array_equal(vertices["red"], rgb[:, 0])


def test_sixteen_bit_png_and_focal_flag(tmp_path, test_views, capsys):
    path = tmp_path / "depth.png"
    depth = test_views[1].depth
    Image.fromarray((depth / depth.max() * 60000).astype(np.uint16)).save(path)
    out = tmp_path / "cloud.ply"
    assert main(["depth-to-3d", str(path), "--out", str(out), "--focal", "50"]) == 0
    assert "guess 50.0 px" in capsys.readouterr().out
    assert len(_ply_vertices(out)) > 0.9 * (depth > 0).sum()


def _rgb_png(folder):
    path = folder / "photo.png"
    Image.new("RGB", (16, 12), (200, 10, 10)).save(path)
    return path


def _text_as_npy(folder):
    path = folder / "depth.npy"
    path.write_text("not an array")
    return path


def _nan_npy(folder):
    path = folder / "nan.npy"
    np.save(path, np.where(np.eye(8) > 0, np.nan, 1.0))
    return path


def _volume_npy(folder):
    path = folder / "volume.npy"
    np.save(path, np.ones((2, 8, 8)))
    return path


def _text_file(folder):
    path = folder / "notes.txt"
    path.write_text("hello")
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (_rgb_png, "single-channel"),
        (_text_as_npy, "not a readable .npy"),
        (_nan_npy, "8 pixel.s. are NaN"),
        (_volume_npy, r"\(H, W\) depth map, got shape \(2, 8, 8\)"),
        (_text_file, "unsupported depth file"),
    ],
)
def test_non_depth_files_give_a_clear_error(tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["depth-to-3d", str(path), "--out", str(tmp_path / "x.ply")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert re.search(message, err), err
    assert not (tmp_path / "x.ply").exists()


def test_missing_file_and_help(tmp_path, capsys):
    assert main(["depth-to-3d", str(tmp_path / "nope.npy"), "--out", str(tmp_path / "x.ply")]) == 2
    assert "nope.npy" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["depth-to-3d", "--help"])
    assert "--weights" in capsys.readouterr().out


def test_exr_pfm_and_disparity_give_the_same_recovery_as_npy(tmp_path, test_views, capsys):
    import json

    from recon3r.depth3d.io import load_depth, write_pfm

    openexr = pytest.importorskip("OpenEXR", reason="EXR input needs the OpenEXR package (recon3r[exr])")
    depth = (test_views[2].depth * 2.0).astype(np.float32)
    np.save(tmp_path / "d.npy", depth)
    with openexr.File({"type": openexr.scanlineimage}, {"Z": np.where(depth > 0, depth, np.nan)}) as exr:
        exr.write(str(tmp_path / "d.exr"))
    write_pfm(tmp_path / "d.pfm", depth)
    write_pfm(tmp_path / "disp.pfm", np.where(depth > 0, 1 / np.where(depth > 0, depth, 1), 0))
    np.testing.assert_array_equal(load_depth(tmp_path / "d.pfm"), load_depth(tmp_path / "d.npy"))
    np.testing.assert_array_equal(load_depth(tmp_path / "d.exr"), load_depth(tmp_path / "d.npy"))
    np.testing.assert_allclose(load_depth(tmp_path / "disp.pfm", disparity=True), load_depth(tmp_path / "d.npy"),
                               rtol=1e-6)
    focals = []
    for name, extra in (("d.npy", []), ("d.exr", []), ("d.pfm", []), ("disp.pfm", ["--disparity"])):
        out = tmp_path / f"{name}.ply"
        assert main(["depth-to-3d", str(tmp_path / name), "--out", str(out), *extra]) == 0
        summary = json.loads(out.with_suffix(".json").read_text())
        assert summary["points"] == len(_ply_vertices(out)) > 0
        focals.append(summary["focal_px"])
    capsys.readouterr()
    np.testing.assert_allclose(focals, focals[0], rtol=1e-5)


def test_a_folder_of_maps_gives_one_ply_each_and_their_numbers(tmp_path, test_views, capsys):
    import json

    maps, images = tmp_path / "maps", tmp_path / "images"
    maps.mkdir()
    images.mkdir()
    for k in range(3):
        np.save(maps / f"view{k}.npy", test_views[k].depth)
        Image.fromarray(test_views[k].rgb).save(images / f"view{k}.png")
    (maps / "notes.txt").write_text("not a map")
    out = tmp_path / "clouds"
    assert main(["depth-to-3d", str(maps), "--out", str(out), "--image", str(images)]) == 0
    assert "wrote 3 point clouds" in capsys.readouterr().out
    summaries = json.loads((out / "recovery.json").read_text())
    assert [s["ply"] for s in summaries] == ["view0.ply", "view1.ply", "view2.ply"]
    for k, summary in enumerate(summaries):
        vertices = _ply_vertices(out / summary["ply"])
        assert len(vertices) == summary["points"] and summary["focal_px"] > 0
        expected = recover_shift_and_focal(test_views[k].depth, None, load_default_model())
        assert summary["focal_px"] == pytest.approx(float(expected.focal), rel=1e-6)
    # The output folder is not overwritten without --overwrite.
    assert main(["depth-to-3d", str(maps), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
