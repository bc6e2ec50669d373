"""`Procedural` and `MultiView`: the sample dict the trainer and losses consume, batching, captions."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from recon3r.data import ColorJitter, DatasetError, MultiView, Procedural, ResolutionBatchSampler
from recon3r.data.sample import VIEW_KEYS, check_sample
from recon3r.errors import ConfigError
from recon3r.geometry import depth_to_world_points

# Must match the `tiny_procedural` fixture in conftest.py.
TINY = {"scenes": 2, "views": 3, "size": 48, "seed": 7, "kind": "pairs"}
KEYS = {"img", "true_shape", "depthmap", "camera_intrinsics", "camera_pose", "pts3d", "valid_mask", "object_mask",
        "dataset", "label", "instance", "idx", "caption", "rng_seed"}


def _on_the_fly(**kwargs):
    return Procedural(scenes=TINY["scenes"], views=TINY["views"], size=TINY["size"], scene_seed=TINY["seed"],
                      kind=TINY["kind"], **kwargs)


def test_pair_sample_has_the_keys_shapes_and_types_the_losses_consume(tiny_procedural):
    ds = Procedural(tiny_procedural, resolution=(32, 24))
    views = ds[0]
    assert len(views) == 2
    for view in views:
        assert set(view) == KEYS
        assert view["img"].dtype == torch.float32 and tuple(view["img"].shape) == (3, 24, 32)
        assert -1.0 <= float(view["img"].min()) and float(view["img"].max()) <= 1.0
        assert view["true_shape"].dtype == np.int32 and view["true_shape"].tolist() == [24, 32]
        assert view["depthmap"].shape == (24, 32) and view["depthmap"].dtype == np.float32
        assert view["camera_intrinsics"].shape == (3, 3) and view["camera_pose"].shape == (4, 4)
        assert view["pts3d"].shape == (24, 32, 3) and view["valid_mask"].dtype == bool
        assert view["dataset"] == "Procedural" and isinstance(view["instance"], str)
        expected = depth_to_world_points(torch.from_numpy(view["depthmap"]).double()[None],
                                         torch.from_numpy(view["camera_intrinsics"]).double()[None],
                                         torch.from_numpy(view["camera_pose"]).double()[None])[0]
        np.testing.assert_allclose(view["pts3d"], expected.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(view["valid_mask"], view["depthmap"] > 0)
        assert view["object_mask"].shape == (24, 32) and view["object_mask"].dtype == bool
    assert views[0]["instance"] != views[1]["instance"]
    assert set(VIEW_KEYS) == KEYS
    check_sample(views, num_views=2)


def test_item_seed_is_shared_by_the_views_and_changes_with_the_epoch():
    ds = _on_the_fly(resolution=32)
    first = [v["rng_seed"] for v in ds[0]]
    assert len(set(first)) == 1 and ds[0][0]["rng_seed"] == first[0]
    assert ds[1][0]["rng_seed"] != first[0]
    ds.set_epoch(1)
    assert ds[0][0]["rng_seed"] != first[0]


def test_orbit_views_carry_the_object_mask():
    ds = Procedural(scenes=1, views=3, size=48, kind="orbit", num_views=3, resolution=32)
    masks = [v["object_mask"] for v in ds[0]]
    assert all(0 < m.mean() < 1 for m in masks)


def test_check_sample_names_the_source_and_the_view_count():
    views = _on_the_fly(resolution=32)[0]
    with pytest.raises(ConfigError, match=r"spec X gives samples of 2 view\(s\); this task needs 4"):
        check_sample(views, "spec X", num_views=4)
    with pytest.raises(ConfigError, match="lacks rng_seed"):
        check_sample([{k: v for k, v in views[0].items() if k != "rng_seed"}], "spec Y")


def test_default_collate_batches_pairs(tiny_procedural):
    ds = Procedural(tiny_procedural, resolution=32)
    view1, view2 = next(iter(DataLoader(ds, batch_size=3, shuffle=False)))
    assert tuple(view1["img"].shape) == (3, 3, 32, 32) and tuple(view2["pts3d"].shape) == (3, 32, 32, 3)
    assert isinstance(view1["caption"], list) and len(view1["caption"]) == 3
    assert isinstance(view1["label"], list) and view1["true_shape"].tolist() == [[32, 32]] * 3


def test_reading_from_disk_equals_rendering_on_the_fly(tiny_procedural):
    disk, fly = Procedural(tiny_procedural, resolution=32), _on_the_fly(resolution=32)
    assert len(disk) == len(fly) > 0
    for i in (0, len(disk) - 1):
        for a, b in zip(disk[i], fly[i]):
            assert torch.equal(a["img"], b["img"]) and np.array_equal(a["depthmap"], b["depthmap"])
            assert np.array_equal(a["camera_pose"], b["camera_pose"]) and a["caption"] == b["caption"]


def test_portrait_resolution_keeps_the_true_layout(tiny_procedural):
    view = Procedural(tiny_procedural, resolution=(24, 32))[0][0]
    assert tuple(view["img"].shape) == (3, 32, 24) and view["true_shape"].tolist() == [32, 24]
    assert view["depthmap"].shape == (32, 24) and view["pts3d"].shape == (32, 24, 3)


def test_several_resolutions_need_a_resolution_index_and_batch_by_it(tiny_procedural):
    ds = Procedural(tiny_procedural, resolution=[(32, 24), (24, 32), (32, 32)])
    with pytest.raises(IndexError, match="resolution_index"):
        ds[0]
    assert ds[0, 1][0]["true_shape"].tolist() == [32, 24]
    sampler = ResolutionBatchSampler(range(len(ds)), batch_size=2, num_resolutions=3, seed=1)
    shapes = [tuple(b[0]["img"].shape[-2:]) for b in DataLoader(ds, batch_size=2, sampler=sampler)]
    assert len(shapes) == -(-len(ds) // 2) and len(set(shapes)) > 1


def test_items_are_reproducible_within_an_epoch_and_change_across_epochs(tiny_procedural):
    ds = Procedural(tiny_procedural, resolution=32, transform=ColorJitter, aug_crop=8)
    first = ds[1][0]["img"]
    assert torch.equal(first, ds[1][0]["img"])
    ds.set_epoch(1)
    assert not torch.equal(first, ds[1][0]["img"])


def test_captions_without_noise_are_the_true_exif_text(tiny_procedural):
    view = Procedural(tiny_procedural, resolution=32)[0][0]
    assert re.fullmatch(r"Make: Procedural, Model: PX-\w+, FocalLength: [\d.]+ mm, FocalLengthIn35mmFilm: \d+, "
                        r"ImageWidth: \d+, ImageHeight: \d+", view["caption"])


def test_caption_noise_perturbs_the_focal_and_dropout_empties_captions(tiny_procedural):
    clean = Procedural(tiny_procedural, resolution=32)
    noisy = Procedural(tiny_procedural, resolution=32, caption_noise=0.3)
    dropped = Procedural(tiny_procedural, resolution=32, caption_dropout=1.0)

    def focal(caption: str) -> float:
        return float(re.search(r"FocalLength: ([\d.]+) mm", caption).group(1))

    changed = [focal(noisy[i][0]["caption"]) != focal(clean[i][0]["caption"]) for i in range(len(clean))]
    assert np.mean(changed) > 0.7  # a tiny draw may round to the same 0.1 mm
    assert noisy[0][0]["caption"] == noisy[0][0]["caption"]  # seeded
    assert all(v["caption"] == "" for i in range(len(dropped)) for v in dropped[i])


def test_num_views_gives_windows_or_whole_scenes(tiny_procedural):
    windows = Procedural(tiny_procedural, resolution=32, num_views=3)
    scenes = Procedural(tiny_procedural, resolution=32, num_views=None)
    assert len(windows) == TINY["scenes"] and len(windows[0]) == 3
    assert len(scenes) == TINY["scenes"] and [v["instance"] for v in scenes[1]] == ["000", "001", "002"]


def test_scene_access_returns_every_view_at_its_stored_size(tiny_procedural):
    ds = MultiView(tiny_procedural)
    assert ds.num_scenes == TINY["scenes"]
    views = ds.scene(0)
    assert len(views) == TINY["views"]
    for view in views:
        assert tuple(view["img"].shape[1:]) == tuple(view["true_shape"]) and min(view["true_shape"]) == 36


def test_on_the_fly_test_split_draws_other_scenes():
    train = Procedural(scenes=1, views=2, size=32, resolution=32, num_views=1)
    test = Procedural(scenes=1, views=2, size=32, resolution=32, num_views=1, split="test")
    assert not np.array_equal(train[0][0]["camera_pose"], test[0][0]["camera_pose"])


def test_missing_dataset_folder_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "missing"))):
        Procedural(str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match="needs ROOT"):
        MultiView()


def test_unknown_split_names_dataset_json(tiny_procedural):
    with pytest.raises(DatasetError, match=r"dataset\.json has no split 'val'"):
        MultiView(tiny_procedural, split="val")
