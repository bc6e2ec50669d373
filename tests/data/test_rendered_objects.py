"""RenderedObjects: procedural objects written in MIRA's layout (and OpenLRM's) parse into consistent view dicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recon3r.cli import main
from recon3r.data.format import DatasetError
from recon3r.data.procedural.objects import render_object, write_rendered_objects
from recon3r.data.rendered_objects import (
    MIRA_FOV_DEG,
    RenderedObjects,
    read_rendered_object,
    world_from_cam_of_mira,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_rendered_objects(tmp_path_factory.mktemp("objects"), objects=3, renders=5, size=40, seed=3,
                                  test_objects=1)


def test_writer_uses_mira_layout_and_camera_conventions(root):
    folder = root / "object_00000"
    names = sorted(p.name for p in folder.iterdir())
    assert names[:2] == ["000.npy", "000.png"] and "metadata.json" in names and "points.npy" in names
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["fov_deg"] == pytest.approx([MIRA_FOV_DEG] * 5) and MIRA_FOV_DEG == pytest.approx(49.134, abs=1e-3)
    world_to_camera = np.load(folder / "000.npy")
    assert world_to_camera.shape == (3, 4)
    pose = world_from_cam_of_mira(world_to_camera)
    centre = pose[:3, 3]
    assert 1.5 <= np.linalg.norm(centre) <= 3.0 and -0.75 < centre[2] < 1.6  # MIRA's camera shell
    np.testing.assert_allclose(pose[:3, 2], -centre / np.linalg.norm(centre), atol=1e-6)  # looks at the origin
    assert pose[2, 1] <= 0  # image "down" never points up in the z-up world
    assert json.loads((root / "splits.json").read_text()) == {"train": ["object_00000", "object_00001"],
                                                              "test": ["object_00002"]}


def test_object_points_project_inside_every_silhouette(root):
    """The strongest check of poses, intrinsics and axes: surface points seen in all renders fall in each mask."""
    dataset = RenderedObjects(str(root), num_views=None)
    views = dataset.scene(0)
    points = np.load(root / "object_00000" / "points.npy")
    assert len(points) > 100 and np.abs(points).max() <= 0.5 + 1e-3  # unit bounding box
    for view in views:
        pose, K, mask = view["camera_pose"].astype(np.float64), view["camera_intrinsics"].astype(np.float64), view["object_mask"]
        cam = (points - pose[:3, 3]) @ pose[:3, :3]
        pixels = np.round(cam[:, :2] / cam[:, 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]).astype(int)
        inside = (pixels >= 0).all(1) & (pixels[:, 0] < mask.shape[1]) & (pixels[:, 1] < mask.shape[0])
        grown = np.pad(mask, 1)  # the silhouette grown by one pixel: rounding at its edges
        grown = grown[1:-1, 1:-1] | grown[:-2, 1:-1] | grown[2:, 1:-1] | grown[1:-1, :-2] | grown[1:-1, 2:]
        hits = grown[pixels[inside, 1], pixels[inside, 0]]
        assert inside.mean() > 0.9 and hits.mean() > 0.995
        valid = view["valid_mask"]
        assert (valid == mask).mean() > 0.99  # exact depth wherever the object is
        assert np.abs(view["pts3d"][valid]).max() <= 0.5 + 0.02


def test_items_start_with_their_render_and_draw_distinct_others(root):
    dataset = RenderedObjects(str(root), split="train", num_views=3, resolution=40)  # native size: no resampling
    assert len(dataset) == 2 * 5
    item = dataset[7]
    assert [v["label"] for v in item] == ["object_00001"] * 3
    instances = [v["instance"] for v in item]
    assert instances[0] == "002" and len(set(instances)) == 3
    assert [v["instance"] for v in dataset[7]] == instances  # same epoch: same item
    draws = set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        draws.add(tuple(v["instance"] for v in dataset[7]))
    assert len(draws) > 1
    view = item[0]
    assert view["img"].shape == (3, 40, 40) and view["object_mask"].shape == (40, 40) and view["object_mask"].dtype == bool
    outside = ~view["object_mask"]
    np.testing.assert_allclose(view["img"].numpy()[:, outside], 1.0, atol=1e-6)  # white background ([-1, 1] scale)


def test_random_background_is_shared_by_the_views_of_an_item(root):
    dataset = RenderedObjects(str(root), num_views=2, background="random", resolution=40)
    item = dataset[3]
    grey = float(item[0]["img"].numpy()[0][~item[0]["object_mask"]].mean())
    for view in item:
        border = view["img"].numpy()[:, ~view["object_mask"]]
        np.testing.assert_allclose(border, grey, atol=1 / 255 + 1e-6)
    others = {round(float(dataset[i][0]["img"].numpy()[0][~dataset[i][0]["object_mask"]].mean()), 3) for i in range(6)}
    assert len(others) > 1


def test_openlrm_layout_gives_the_same_cameras(root, tmp_path):
    from PIL import Image

    data = render_object(3, 0, 2, size=40)
    folder = tmp_path / "openlrm" / "uid"
    (folder / "rgba").mkdir(parents=True)
    (folder / "pose").mkdir()
    for v in range(2):
        Image.fromarray(data["rgba"][v], "RGBA").save(folder / "rgba" / f"{v:03d}.png")
        blender_world_from_cam = np.linalg.inv(np.vstack((data["world_to_camera"][v], [0, 0, 0, 1])))
        np.save(folder / "pose" / f"{v:03d}.npy", blender_world_from_cam[:3])
    focal = 20.0 / np.tan(np.radians(MIRA_FOV_DEG) / 2)
    np.save(folder / "intrinsics.npy", np.array([[focal, focal], [20.0, 20.0], [40.0, 40.0]]))
    openlrm = read_rendered_object(folder)
    mira = read_rendered_object(root / "object_00000")
    for v in range(2):
        np.testing.assert_allclose(openlrm.world_from_cam[v], mira.world_from_cam[v], atol=1e-5)
        np.testing.assert_allclose(openlrm.intrinsics[v], mira.intrinsics[v], atol=1e-9)


def test_errors_name_the_folder_and_the_split(root, tmp_path):
    with pytest.raises(DatasetError, match="'val'"):
        RenderedObjects(str(root), split="val")
    broken = tmp_path / "broken" / "obj"
    broken.mkdir(parents=True)
    from PIL import Image

    Image.new("RGBA", (8, 8)).save(broken / "000.png")
    with pytest.raises(DatasetError, match="000.npy"):
        RenderedObjects(str(tmp_path / "broken"))
    with pytest.raises(DatasetError, match="fewer than num_views"):
        RenderedObjects(str(root), num_views=6)


def test_make_objects_command_writes_a_readable_dataset(tmp_path, capsys):
    out = tmp_path / "objs"
    assert main(["data", "make-objects", "--out", str(out), "--objects", "2", "--renders", "3", "--size", "24"]) == 0
    assert "wrote 2 objects" in capsys.readouterr().out
    assert len(RenderedObjects(str(out), num_views=2)) == 6
    assert main(["data", "make-objects", "--out", str(out), "--objects", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_mask_follows_crops_and_resizes_like_the_depth(root):
    dataset = RenderedObjects(str(root), num_views=2, resolution=(32, 24), aug_crop=6)
    for idx in range(4):
        for view in dataset[idx]:
            assert view["object_mask"].shape == (24, 32)
            np.testing.assert_array_equal(view["object_mask"], view["valid_mask"])  # depth > 0 exactly on the object
