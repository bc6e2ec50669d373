"""Exported image names are unique and safe, COLMAP reads them back, and each keeps its source path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recon3r.errors import ConfigError
from recon3r.io import export_scene
from recon3r.io.exports import export_colmap, image_file_names, load_scene_npz
from recon3r.io.exports.colmap import colmap_name_problem


def test_names_are_folded_to_safe_ascii(scene):
    scene.names = ["photo one é.png", "CON.jpg", "a" * 300 + ".jpg"]
    names = image_file_names(scene)
    assert names[0] == "photo_one_e.png" and names[1] == "CON_.png" and len(names[2]) == 104
    assert colmap_name_problem(names) is None


def test_colmap_falls_back_to_the_safe_names_when_originals_have_spaces(scene, tmp_path):
    import pycolmap

    scene.names = ["photo one é.png", "photo two.png", "three.png"]
    export_scene(scene, tmp_path, formats=["colmap", "nerfstudio"])
    rec = pycolmap.Reconstruction(str(tmp_path / "sparse" / "0"))
    names = sorted(image.name for image in rec.images.values())
    assert names == sorted(image_file_names(scene)) == ["photo_one_e.png", "photo_two.png", "three.png"]
    assert all((tmp_path / "images" / name).is_file() for name in names)
    index = {name: k for k, name in enumerate(image_file_names(scene))}
    for image in rec.images.values():  # network resolution: the PNGs' own size
        camera = rec.cameras[image.camera_id]
        assert (camera.width, camera.height) == scene.images[index[image.name]].shape[1::-1]
    with pytest.raises(ConfigError, match="holds whitespace"):
        export_colmap(scene, tmp_path / "original", resolution="original")


def test_the_same_file_name_in_two_folders_exports_without_error(scene, tmp_path):
    import pycolmap

    scene.names = ["x.png", "x.png", "y.png"]
    scene.sources = ["day/x.png", "night/x.png", "day/y.png"]
    written = export_scene(scene, tmp_path)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["x.png", "x_0001.png", "y.png"]
    rec = pycolmap.Reconstruction(str(written["colmap"]))
    assert rec.num_images() == 3
    frames = json.loads((tmp_path / "transforms.json").read_text())["frames"]
    assert [f["file_path"] for f in frames] == ["images/x.png", "images/x_0001.png", "images/y.png"]
    assert [f["source_path"] for f in frames] == scene.sources
    with np.load(tmp_path / "scene.npz") as data:
        assert data["export_names"].tolist() == ["x.png", "x_0001.png", "y.png"]
        assert data["source_paths"].tolist() == scene.sources
    assert load_scene_npz(tmp_path / "scene.npz").sources == scene.sources


@pytest.mark.parametrize(("names", "problem"), [(["a b.png"], "whitespace"), (["a.png", "a.png"], "more than once"),
                                                ([""], "empty")])
def test_colmap_name_problems_are_named(names, problem):
    assert problem in colmap_name_problem(names)
