"""`recon3r data depth3d`: Train-3D's data_gen over raw ScanNet / Ken Burns / Taskonomy roots, resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recon3r.cli import main
from recon3r.data.prepare.depth3d import equal_shares


def _argv(raw, out, ns="2,2,2"):
    return ["data", "depth3d", "-ss", str(raw["scannet"]), "-sk", str(raw["kenburns"]), "-st", str(raw["taskonomy"]),
            "-ns", ns, "--out", str(out), "--quiet"]


def test_data_gen_writes_six_samples_and_both_distributions(raw_depth3d, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(_argv(raw_depth3d, out)) == 0
    printed = capsys.readouterr().out
    assert "6 written, 0 already there" in printed and "scale (median depth)" in printed and "focal" in printed
    assert sorted(p.name for p in (out / "depths").iterdir()) == [f"{i:06d}.npz" for i in range(6)]
    assert sorted(p.name for p in (out / "intrinsics").iterdir()) == [f"{i:06d}.npy" for i in range(6)]
    scales, focals = np.load(out / "scales.npy"), np.load(out / "focals.npy")
    assert scales.shape == focals.shape == (6,) and (scales > 0).all() and (focals > 0).all()
    assert (out / "distributions.png").stat().st_size > 0
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["complete"] and meta["format"] == "recon3r-depth3d"
    samples = meta["samples"]
    # Two per dataset, one from each of its two scenes (equal across scenes).
    assert [(s["dataset"], s["scene"]) for s in samples] == [
        ("scannet", "scene0000_00"), ("scannet", "scene0001_00"), ("kenburns", "kb_scene0"), ("kenburns", "kb_scene1"),
        ("taskonomy", "tk_scene0"), ("taskonomy", "tk_scene1")]
    for index, sample in enumerate(samples):
        depth, valid, k = raw_depth3d["truth"][(sample["dataset"], sample["scene"], sample["item"])]
        with np.load(out / "depths" / f"{index:06d}.npz") as data:
            np.testing.assert_array_equal(data["valid"], valid)
            np.testing.assert_array_equal(data["depth"], np.where(valid, depth, 0).astype(np.float32))
            assert set(data.files) >= {"depth", "valid"}
            assert ("world_from_cam" in data.files) == (sample["dataset"] == "scannet")
        np.testing.assert_allclose(np.load(out / "intrinsics" / f"{index:06d}.npy"), k, rtol=1e-12)
        assert np.isclose(scales[index], np.median(depth[valid]))


def test_a_rerun_resumes_and_skips_what_is_written(raw_depth3d, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(_argv(raw_depth3d, out)) == 0
    (out / "depths" / "000003.npz").unlink()
    before = (out / "depths" / "000000.npz").stat().st_mtime_ns
    capsys.readouterr()
    assert main(_argv(raw_depth3d, out)) == 0
    assert "1 written, 5 already there" in capsys.readouterr().out
    assert (out / "depths" / "000003.npz").is_file() and (out / "depths" / "000000.npz").stat().st_mtime_ns == before
    # Another plan on the same folder is refused; --overwrite starts over.
    assert main(_argv(raw_depth3d, out, "1,2,2")) == 2
    assert "other roots or -ns" in capsys.readouterr().err
    assert main([*_argv(raw_depth3d, out, "1,0,1"), "--overwrite"]) == 0
    assert len(list((out / "depths").iterdir())) == 2 and np.load(out / "scales.npy").shape == (2,)


@pytest.mark.parametrize("ns, message", [("9,0,0", "4 available"), ("1,1", "three comma-separated"),
                                         ("0,0,0", "asks no samples")])
def test_bad_counts_are_refused_before_writing(raw_depth3d, tmp_path, capsys, ns, message):
    out = tmp_path / "prepared"
    assert main(_argv(raw_depth3d, out, ns)) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_a_count_without_its_root_is_refused(tmp_path, capsys):
    assert main(["data", "depth3d", "-ns", "0,3,0", "--out", str(tmp_path / "o")]) == 2
    assert "-sk gives no root" in capsys.readouterr().err


def test_equal_shares_fill_small_scenes_then_split_the_rest():
    assert equal_shares([10, 10, 10], 7) == [3, 2, 2]
    assert equal_shares([1, 10, 10], 9) == [1, 4, 4]
    assert sum(equal_shares([2, 5, 3, 8], 18)) == 18
    with pytest.raises(ValueError, match="available"):
        equal_shares([1, 1], 3)
