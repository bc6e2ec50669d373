"""The recon3r multi-view format: exact round trips and errors that name the offending path."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from recon3r.data.format import DatasetError, read_dataset, read_scene, write_dataset, write_scene


def _random_scene(rng: np.random.Generator, views: int = 3):
    images = [rng.integers(0, 256, size=(6 + v, 8, 3), dtype=np.uint8) for v in range(views)]
    depths = [rng.uniform(0.5, 9.0, size=(6 + v, 8)).astype(np.float32) for v in range(views)]
    depths[0][0, 0] = 0.0  # an invalid pixel
    masks = [rng.uniform(size=(6 + v, 8)) > 0.5 for v in range(views)]
    intrinsics = rng.normal(size=(views, 3, 3))
    poses = rng.normal(size=(views, 4, 4))
    return images, depths, masks, intrinsics, poses


def test_scene_round_trip_is_exact(tmp_path):
    images, depths, masks, intrinsics, poses = _random_scene(np.random.default_rng(0))
    captions = ["Make: Procedural, FocalLength: 35.0 mm", None, "a red chair"]
    overlap = np.array([[1.0, 0.25, 0.0], [0.5, 1.0, 0.125], [0.0, 0.1, 1.0]])
    write_scene(tmp_path / "s", images, intrinsics, poses, depths, masks, captions, kind="sequence", overlap=overlap,
                view_meta=[{"sensor_mm": 36.0}] * 3, meta={"layout": "room"})
    record = read_scene(tmp_path / "s")
    assert record.kind == "sequence" and record.name == "s" and len(record) == 3
    np.testing.assert_array_equal(record.intrinsics, intrinsics)  # float64 bit-exact through JSON
    np.testing.assert_array_equal(record.world_from_cam, poses)
    np.testing.assert_array_equal(record.overlap, overlap)
    for v in range(3):
        np.testing.assert_array_equal(record.image(v), images[v])
        np.testing.assert_array_equal(record.depth(v), depths[v])
        np.testing.assert_array_equal(record.mask(v), masks[v])
        assert record.views[v].caption == captions[v]
        assert record.views[v].meta == {"sensor_mm": 36.0}
    assert record.meta == {"layout": "room"}


def test_views_without_depth_or_mask_read_back_as_none(tmp_path):
    images, _, _, intrinsics, poses = _random_scene(np.random.default_rng(1), views=2)
    record = write_scene(tmp_path / "s", images, intrinsics, poses)
    assert record.depth(0) is None and record.mask(1) is None and record.overlap is None


def test_non_finite_depth_reads_as_invalid(tmp_path):
    images, depths, _, intrinsics, poses = _random_scene(np.random.default_rng(2), views=1)
    depths[0][1, 1], depths[0][2, 2] = np.nan, -1.0
    record = write_scene(tmp_path / "s", images, intrinsics, poses, depths)
    depth = record.depth(0)
    assert depth[1, 1] == 0.0 and depth[2, 2] == 0.0 and np.isfinite(depth).all()


def test_dataset_index_round_trip_with_splits(tmp_path):
    images, depths, _, intrinsics, poses = _random_scene(np.random.default_rng(3), views=1)
    for name in ("a", "b"):
        write_scene(tmp_path / name, images, intrinsics, poses, depths)
    index = write_dataset(tmp_path, ["a", "b"], splits={"test": ["b"]}, meta={"seed": 1})
    assert read_dataset(tmp_path).scenes == ["a", "b"]
    assert index.scene_names("test") == ["b"] and index.scene_names() == ["a", "b"]
    with pytest.raises(DatasetError, match="no split 'train'"):
        index.scene_names("train")


def test_writing_twice_gives_identical_bytes(tmp_path):
    args = _random_scene(np.random.default_rng(4), views=2)
    for name in ("x", "y"):
        images, depths, masks, intrinsics, poses = args
        write_scene(tmp_path / name, images, intrinsics, poses, depths, masks)
    for f in ("scene.json", "images/000.png", "depth/001.npy", "masks/000.png"):
        text_x, text_y = (tmp_path / "x" / f).read_bytes(), (tmp_path / "y" / f).read_bytes()
        assert text_x.replace(b'"x"', b'"y"') == text_y


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "nowhere"))):
        read_dataset(tmp_path / "nowhere")


def test_missing_dataset_json_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"dataset\.json"):
        read_dataset(tmp_path)


def test_malformed_json_names_the_file(tmp_path):
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"malformed JSON in .*dataset\.json"):
        read_dataset(tmp_path)


def test_wrong_format_version_is_rejected(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"format": "recon3r-multiview", "version": 99, "scenes": []}))
    with pytest.raises(DatasetError, match="version 99"):
        read_dataset(tmp_path)


def test_malformed_view_entry_names_the_scene_file(tmp_path):
    images, depths, _, intrinsics, poses = _random_scene(np.random.default_rng(5), views=1)
    write_scene(tmp_path / "s", images, intrinsics, poses, depths)
    data = json.loads((tmp_path / "s" / "scene.json").read_text())
    data["views"][0]["intrinsics"] = [[1, 2], [3, 4]]
    (tmp_path / "s" / "scene.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"scene\.json: intrinsics must be a finite 3×3"):
        read_scene(tmp_path / "s")


def test_missing_image_file_names_the_file(tmp_path):
    images, depths, _, intrinsics, poses = _random_scene(np.random.default_rng(6), views=1)
    record = write_scene(tmp_path / "s", images, intrinsics, poses, depths)
    (tmp_path / "s" / "images" / "000.png").unlink()
    with pytest.raises(DatasetError, match=r"missing image .*000\.png"):
        record.image(0)


def test_depth_of_the_wrong_size_is_rejected(tmp_path):
    images, depths, _, intrinsics, poses = _random_scene(np.random.default_rng(7), views=1)
    write_scene(tmp_path / "s", images, intrinsics, poses, depths)
    np.save(tmp_path / "s" / "depth" / "000.npy", np.ones((3, 3), np.float32))
    with pytest.raises(DatasetError, match=r"000\.npy is 3×3 but scene\.json says 8×6"):
        read_scene(tmp_path / "s").depth(0)


def test_writer_checks_lengths_and_dtypes(tmp_path):
    images, depths, _, intrinsics, poses = _random_scene(np.random.default_rng(8), views=2)
    with pytest.raises(ValueError, match="2 images but 1 intrinsics"):
        write_scene(tmp_path / "s", images, intrinsics[:1], poses)
    with pytest.raises(ValueError, match="uint8"):
        write_scene(tmp_path / "t", [im.astype(np.float32) for im in images], intrinsics, poses)
