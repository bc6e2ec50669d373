"""Strict known-camera files: every field checked; errors name the file, the key and the value."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recon3r.errors import ConfigError
from recon3r.io.camera_files import read_intrinsics_file, read_poses_file

NAMES = ["photos/a.jpg", "photos/b.jpg"]
SIZES = [(400, 300), (400, 300)]
K = [[350.0, 0, 199.5], [0, 350.0, 149.5], [0, 0, 1]]


def _file(tmp_path, data, raw: bool = False):
    path = tmp_path / "cameras.json"
    path.write_text(data if raw else json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"*": {"K": "abc"}}, r"\*\.K must be a 3x3 matrix .*got \"abc\""),
        ({"*": {"K": [[1, 0, 0], [0, 1]]}}, r"\*\.K must be a 3x3 matrix"),
        ({"*": {"K": [["350", 0, 200], [0, 350, 150], [0, 0, 1]]}}, r"\*\.K\[0\]\[0\] must be a number, got \"350\""),
        ({"*": {"K": [[350, 0, 200], [0, 350, 150], [0, 1, 1]]}}, r"must look like \[\[fx, s, cx\]"),
        ({"a.jpg": {"focal": 1e30}}, r"a.jpg.focal = 1e\+30 px is not below 100× the image size \(400x300\)"),
        ({"a.jpg": {"focal": True}}, r"a.jpg.focal must be a number, got true"),
        ({"a.jpg": {"focal": -3}}, r"a.jpg.focal must be positive, got -3"),
        ({"a.jpg": {"focal": "wide"}}, r"a.jpg.focal must be a number, got \"wide\""),
        ({"a.jpg": {"fx": 300, "fy": 300, "cx": 200}}, "lacks cy"),
        ({"a.jpg": {"fx": 300, "fy": 300, "cx": 5000, "cy": 150}}, r"cx = 5000 is more than one image size"),
        ({"a.jpg": {"focal": 300, "K": K}}, "needs exactly one of K, fx/fy/cx/cy or focal"),
        ({"a.jpg": {"focal": 300, "k1": 0.1}}, r"unknown field\(s\) k1"),
        ({"a.jpg": 300}, r"a.jpg must be an object with K, fx/fy/cx/cy or focal, got 300"),
        ({"c.jpg": {"focal": 300}}, r"no image named 'c.jpg'"),
        ({"a.jpg": {"focal": 300}, "photos/a.jpg": {"focal": 310}}, "listed twice"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_intrinsics_are_named(tmp_path, data, message):
    path = _file(tmp_path, data)
    with pytest.raises(ConfigError, match=message) as caught:
        read_intrinsics_file(path, NAMES, sizes=SIZES)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a.jpg": {"focal": NaN}}', "NaN is not a number JSON allows"),
        ('{"a.jpg": {"focal": 300}, "a.jpg": {"focal": 310}}', "key 'a.jpg' appears more than once"),
        ("{not json", "not valid JSON"),
    ],
)
def test_malformed_json_is_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        read_intrinsics_file(_file(tmp_path, text, raw=True), NAMES, sizes=SIZES)


def test_a_folder_is_not_a_camera_file(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a JSON file"):
        read_intrinsics_file(tmp_path, NAMES)
    with pytest.raises(ConfigError, match="is a folder, not a JSON file"):
        read_poses_file(tmp_path, NAMES)


def test_a_file_name_two_images_share_is_ambiguous(tmp_path):
    names = ["day/img.jpg", "night/img.jpg"]
    with pytest.raises(ConfigError, match=r"key 'img.jpg' is ambiguous: 2 images match it"):
        read_intrinsics_file(_file(tmp_path, {"img.jpg": {"focal": 300}}), names)
    with pytest.raises(ConfigError, match=r"key 'img' is ambiguous"):
        read_poses_file(_file(tmp_path, {"img": np.eye(4).tolist()}), ["a/img.jpg", "a/img.png"])
    # Keyed by the full path, each image gets its own camera.
    full, focal = read_intrinsics_file(_file(tmp_path, {"day/img.jpg": {"focal": 300},
                                                        "night/img.jpg": {"focal": 320}}), names)
    assert full == {} and focal == {0: 300.0, 1: 320.0}


def test_good_files_read_back_with_star_for_the_rest(tmp_path):
    full, focal = read_intrinsics_file(_file(tmp_path, {"*": {"K": K}, "b": {"focal": 360}}), NAMES, sizes=SIZES)
    assert list(full) == [0] and focal == {1: 360.0}
    np.testing.assert_array_equal(full[0], np.array(K))


@pytest.mark.parametrize(
    ("pose", "message"),
    [
        ([[1, 0, 0, 1e30], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], r"translation .*beyond"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], r"a 4x4 cam-to-world matrix"),
        ([[True, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], r"\[0\]\[0\] must be a number, got true"),
        ((2 * np.eye(4)).tolist(), "does not hold a rotation"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], "last row must be"),
        ("identity", "a 4x4 cam-to-world matrix"),
    ],
)
def test_bad_poses_are_named(tmp_path, pose, message):
    path = _file(tmp_path, {"a.jpg": pose})
    with pytest.raises(ConfigError, match=message) as caught:
        read_poses_file(path, NAMES)
    assert str(path) in str(caught.value) and "a.jpg" in str(caught.value)
