"""`recon3r data make-procedural`: writes a readable, reproducible dataset; refuses bad input."""

from __future__ import annotations

import numpy as np

from recon3r.cli import main
from recon3r.data import Procedural, read_dataset


def test_make_procedural_writes_what_procedural_renders_on_the_fly(tmp_path, capsys):
    out = tmp_path / "proc"
    code = main(["data", "make-procedural", "--out", str(out), "--scenes", "2", "--views", "2", "--size", "32",
                 "--seed", "4", "--kind", "sequence"])
    assert code == 0 and "wrote 2 scenes" in capsys.readouterr().out
    index = read_dataset(out)
    assert index.scenes == ["scene_00000", "scene_00001"] and index.scene_names("train") == index.scenes
    disk = Procedural(str(out), split="train", resolution=32, num_views=1)
    fly = Procedural(scenes=2, views=2, size=32, scene_seed=4, kind="sequence", resolution=32, num_views=1)
    assert len(disk) == len(fly) == 4
    assert np.array_equal(disk[3][0]["depthmap"], fly[3][0]["depthmap"])


def test_held_out_split_matches_the_on_the_fly_split(tmp_path):
    out = tmp_path / "test"
    assert main(["data", "make-procedural", "--out", str(out), "--scenes", "1", "--views", "2", "--size", "32",
                 "--split", "test"]) == 0
    disk = Procedural(str(out), split="test", resolution=32, num_views=1)
    fly = Procedural(scenes=1, views=2, size=32, split="test", resolution=32, num_views=1)
    train = Procedural(scenes=1, views=2, size=32, resolution=32, num_views=1)
    assert np.array_equal(disk[0][0]["camera_pose"], fly[0][0]["camera_pose"])
    assert not np.array_equal(disk[0][0]["camera_pose"], train[0][0]["camera_pose"])


def test_existing_dataset_is_not_overwritten_without_force(tmp_path, capsys):
    args = ["data", "make-procedural", "--out", str(tmp_path), "--scenes", "1", "--views", "1", "--size", "24"]
    assert main(args) == 0
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_bad_counts_are_rejected(tmp_path, capsys):
    assert main(["data", "make-procedural", "--out", str(tmp_path), "--scenes", "0", "--views", "2"]) == 2
    assert "--scenes must be at least 1" in capsys.readouterr().err
