"""DepthSamples: `recon3r data depth3d` folders as one-view samples, split deterministically, trainable."""

from __future__ import annotations

import numpy as np
import pytest

from recon3r.cli import main
from recon3r.data import DepthSamples
from recon3r.data.format import DatasetError
from recon3r.data.registry import parse_dataset
from recon3r.data.sample import check_sample


@pytest.fixture
def prepared(raw_depth3d, tmp_path):
    out = tmp_path / "prepared"
    argv = ["data", "depth3d", "-ss", str(raw_depth3d["scannet"]), "-sk", str(raw_depth3d["kenburns"]),
            "-st", str(raw_depth3d["taskonomy"]), "-ns", "4,4,4", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    return out


def test_splits_are_deterministic_disjoint_and_follow_train_split(prepared):
    train = DepthSamples(ROOT=str(prepared), split="train", train_split=0.75)
    test = DepthSamples(ROOT=str(prepared), split="test", train_split=0.75)
    assert len(train) == 9 and len(test) == 3 and not set(train.names) & set(test.names)
    assert DepthSamples(ROOT=str(prepared), split="train", train_split=0.75).names == train.names
    assert DepthSamples(ROOT=str(prepared), split="val", train_split=0.75).names == test.names
    assert len(DepthSamples(ROOT=str(prepared), split=None)) == 12
    assert DepthSamples(ROOT=str(prepared), split="train", train_split=0.75, split_seed=1).names != train.names


def test_samples_are_single_views_of_the_shared_format_at_their_stored_size(prepared, raw_depth3d):
    dataset = parse_dataset(f"DepthSamples(ROOT='{prepared}', split=None)")
    for index in range(len(dataset)):
        sample = dataset[index]
        check_sample(sample, num_views=1)
        (view,) = sample
        name = dataset.names[index]
        with np.load(prepared / "depths" / f"{name}.npz") as data:
            np.testing.assert_array_equal(view["depthmap"], data["depth"])
            np.testing.assert_array_equal(view["valid_mask"], data["valid"])
        np.testing.assert_allclose(view["camera_intrinsics"], np.load(prepared / "intrinsics" / f"{name}.npy"), rtol=1e-6)
        assert view["label"].split("/")[0] in ("scannet", "kenburns", "taskonomy")


def test_a_folder_that_is_not_one_and_a_bad_split_are_refused(tmp_path, prepared):
    with pytest.raises(DatasetError, match="recon3r data depth3d"):
        DepthSamples(ROOT=str(tmp_path / "elsewhere"))
    with pytest.raises(DatasetError, match="split must be"):
        DepthSamples(ROOT=str(prepared), split="nope")


def test_recon3r_train_trains_a_depth3d_model_on_depth_samples(prepared, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--model", "Depth3DModel(point_widths=(8, 16), head_widths=(8,), num_points=64)",
            "--train_dataset", f"12 @ DepthSamples(ROOT='{prepared}', split='train')",
            "--test_dataset", f"DepthSamples(ROOT='{prepared}', split='test')",
            "--epochs", "1", "--batch_size", "4", "--lr", "1e-3", "--output_dir", str(out), "--device", "cpu"]
    assert main(argv) == 0
    assert (out / "checkpoint-last" / "model.safetensors").is_file()
    assert "shift_error" in (out / "metrics.csv").read_text()
