"""Readers of the raw depth datasets, round-trip on files written in each real format: depth, intrinsics, masks exact."""

from __future__ import annotations

import numpy as np
import pytest

from recon3r.data.depth3d_sources import (
    KenBurnsSource,
    RawDepthError,
    ScanNetSource,
    SensFile,
    TaskonomySource,
    intrinsics_from_fov,
    mask_invalid,
)


def _check(record, truth):
    depth, valid, k = truth
    np.testing.assert_array_equal(record.valid, valid)
    np.testing.assert_array_equal(record.depth, np.where(valid, depth, 0).astype(np.float32))
    np.testing.assert_allclose(record.intrinsics, k, rtol=1e-12, atol=0)
    assert record.depth.dtype == np.float32 and (record.depth[~record.valid] == 0).all()


def test_scannet_sens_with_two_frames_round_trips(raw_depth3d):
    source = ScanNetSource(raw_depth3d["scannet"])
    assert source.scenes() == {"scene0000_00": ["0", "1"], "scene0001_00": ["0", "1"]}
    sens = SensFile(raw_depth3d["scannet"] / "scans" / "scene0001_00" / "scene0001_00.sens")
    assert sens.header.depth_compression == "zlib_ushort" and sens.header.color_compression == "jpeg"
    assert sens.header.depth_size == (16, 12) and sens.header.color_size == (32, 24) and len(sens) == 2
    for frame in ("0", "1"):
        record = source.read("scene0001_00", frame)
        _check(record, raw_depth3d["truth"][("scannet", "scene0001_00", frame)])
        assert not record.valid[0, :2].any()  # raw 0 is invalid
        np.testing.assert_array_equal(record.world_from_cam[:3, 3], [int(frame), 1, 0.5])
        # The JPEG colour, resampled onto the depth grid, is the frame's flat colour.
        assert record.image.shape == (12, 16, 3) and abs(int(record.image.mean()) - 40 * (int(frame) + 1)) <= 2


def test_kenburns_exr_and_json_round_trip_with_nan_inf_and_zero_masked(raw_depth3d):
    source = KenBurnsSource(raw_depth3d["kenburns"])
    scenes = source.scenes()
    assert list(scenes) == ["kb_scene0", "kb_scene1"] and scenes["kb_scene1"][1] == "depths/kb_scene1/scan01.exr"
    for scene, items in scenes.items():
        for item in items:
            record = source.read(scene, item)
            _check(record, raw_depth3d["truth"][("kenburns", scene, item)])
            assert not record.valid[0, 0] and not record.valid[0, 1] and not record.valid[1, 0]


def test_taskonomy_png_and_point_info_round_trip_with_the_sentinel_masked(raw_depth3d):
    source = TaskonomySource(raw_depth3d["taskonomy"])
    for scene, items in source.scenes().items():
        assert len(items) == 2
        for item in items:
            record = source.read(scene, item)
            _check(record, raw_depth3d["truth"][("taskonomy", scene, item)])
            assert not record.valid[-1, :3].any() and record.valid.sum() == record.valid.size - 3
            assert record.depth.max() < 65535 / 512 - 1  # the sentinel never becomes 128 m of depth


def test_downloaded_kenburns_layout_is_read_too(tmp_path):
    import json

    import OpenEXR

    (tmp_path / "asdf-flying-depth").mkdir()
    (tmp_path / "asdf-flying").mkdir()
    depth = np.full((8, 8), 2500.0, np.float32)
    with OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Z": depth}) as exr:
        exr.write(str(tmp_path / "asdf-flying-depth" / "00001-bl-depth.exr"))
    (tmp_path / "asdf-flying" / "00001-meta.json").write_text(json.dumps({"intSample": 1, "fltFov": 90.0}))
    source = KenBurnsSource(tmp_path)
    (item,) = source.scenes()["asdf-flying"]
    record = source.read("asdf-flying", item)
    assert np.allclose(record.depth, 2.5) and np.isclose(record.intrinsics[0, 0], 4.0)


def test_mask_invalid_and_field_of_view_conventions():
    depth, valid = mask_invalid(np.array([[1.0, 0.0, -1.0], [np.nan, np.inf, 7.0]]), sentinel=7.0)
    np.testing.assert_array_equal(valid, [[True, False, False], [False, False, False]])
    assert depth.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    k = intrinsics_from_fov(90.0, 10, 20)  # the field of view spans the larger side
    assert np.isclose(k[0, 0], 10.0) and k[0, 2] == 9.5 and k[1, 2] == 4.5


def test_broken_files_are_named(tmp_path):
    bad = tmp_path / "scene" / "scene.sens"
    bad.parent.mkdir()
    bad.write_bytes(b"\x04\x00\x00\x00" + b"\x01")
    with pytest.raises(RawDepthError, match="scene.sens"):
        SensFile(bad)
