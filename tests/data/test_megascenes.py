"""`MegaScenes` on fake pair-info and serialized files (JSON and pickle), with sparse depth and captions."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from recon3r.data import DatasetError, MegaScenes
from recon3r.data.procedural import generate_scene

IMAGES = ["Tower/images/commons/a.png", "Tower/images/commons/b.png"]


@pytest.fixture(scope="module")
def megascenes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("megascenes")
    scene = generate_scene(seed=0, index=1, kind="sequence", views=2, size=48)  # one camera body: one image size
    records = {}
    rng = np.random.default_rng(0)
    for key, v in zip(IMAGES, range(2)):
        view, cam = scene.render(v), scene.cameras[v]
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(view.rgb).save(root / key)
        ys, xs = np.nonzero(view.depth > 0)
        pick = rng.choice(len(ys), size=min(150, len(ys)), replace=False)
        rays = np.stack([xs[pick], ys[pick], np.ones(len(pick))], 1) @ np.linalg.inv(cam.intrinsics).T
        local = rays * view.depth[ys[pick], xs[pick], None]
        world = local @ cam.world_from_cam[:3, :3].T + cam.world_from_cam[:3, 3]
        records[key] = {"extrinsics": np.linalg.inv(cam.world_from_cam), "intrinsics": cam.intrinsics,
                        "pointxyz": world, "pixels": (ys[pick], xs[pick], local[:, 2])}
    # Wikimedia metadata two folders above the image's folder, as the seed reads it.
    metadata = {"elements": [{"1": {"title": "File:a.png", "imageinfo": [{"commonmetadata": [
        {"name": "Make", "value": "Canon"}, {"name": "FocalLength", "value": "50"}]}]}}]}
    (root / "Tower" / "raw_metadata.json").write_text(json.dumps(metadata))
    (root / "pairs.json").write_text(json.dumps([IMAGES]))
    serial = {k: {"extrinsics": r["extrinsics"].tolist(), "intrinsics": r["intrinsics"].tolist(),
                  "pointxyz": r["pointxyz"].tolist()} for k, r in records.items()}
    serial[IMAGES[1]]["caption"] = "a stone tower at dusk"
    (root / "records.json").write_text(json.dumps(serial))
    with open(root / "pairs.pkl", "wb") as f:
        pickle.dump([tuple(IMAGES)], f)
    with open(root / "records.pkl", "wb") as f:
        pickle.dump({k: {kk: r[kk] for kk in ("extrinsics", "intrinsics", "pointxyz")} for k, r in records.items()}, f)
    return root, records, (scene.cameras[0].width, scene.cameras[0].height)


@pytest.mark.parametrize("suffix", ["json", "pkl"])
def test_sparse_depth_is_splatted_from_the_track_points(megascenes_root, suffix):
    root, records, size = megascenes_root
    ds = MegaScenes(str(root / f"pairs.{suffix}"), str(root / f"records.{suffix}"), resolution=size)
    assert len(ds) == 1
    views = ds[0]
    for key, view in zip(IMAGES, views):
        rows, cols, z = records[key]["pixels"]
        np.testing.assert_allclose(view["depthmap"][rows, cols], z, rtol=1e-5)
        assert view["valid_mask"].sum() == len(set(zip(rows.tolist(), cols.tolist())))
        np.testing.assert_allclose(view["camera_pose"], np.linalg.inv(records[key]["extrinsics"]), atol=1e-5)
        assert view["instance"] == key.rsplit("/", 1)[1] and view["dataset"] == "MegaScenes"
    # After a downscale the points are splatted with the new intrinsics: every depth is some point's z.
    small = MegaScenes(str(root / f"pairs.{suffix}"), str(root / f"records.{suffix}"), resolution=(24, 18))[0]
    for key, view in zip(IMAGES, small):
        z = records[key]["pixels"][2].astype(np.float32)
        depths = view["depthmap"][view["valid_mask"]]
        assert len(depths) > 50 and np.isin(depths, z).all()


def test_captions_come_from_records_or_wikimedia_metadata(megascenes_root):
    root, _, size = megascenes_root
    views = MegaScenes(str(root / "pairs.json"), str(root / "records.json"), resolution=size)[0]
    assert views[0]["caption"] == "Make: Canon, FocalLength: 50"
    assert views[1]["caption"] == "a stone tower at dusk"


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickles_that_would_run_code_are_refused(megascenes_root, tmp_path):
    root, _, _ = megascenes_root
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({IMAGES[0]: _Exploit()}, f)
    with pytest.raises(DatasetError, match=r"refusing to load .*system"):
        MegaScenes(str(root / "pairs.json"), str(tmp_path / "evil.pkl"))


def test_missing_or_malformed_files_are_named(megascenes_root, tmp_path):
    root, _, _ = megascenes_root
    with pytest.raises(DatasetError, match=r"missing file .*nothere\.json"):
        MegaScenes(str(tmp_path / "nothere.json"), str(root / "records.json"))
    (tmp_path / "bad.json").write_text(json.dumps([["only-one"]]))
    with pytest.raises(DatasetError, match=r"bad\.json must hold a list of \[image_a, image_b\]"):
        MegaScenes(str(tmp_path / "bad.json"), str(root / "records.json"))
    (tmp_path / "pairs.json").write_text(json.dumps([["x.png", "y.png"]]))
    with pytest.raises(DatasetError, match=r"2 images of .*pairs\.json have no record"):
        MegaScenes(str(tmp_path / "pairs.json"), str(root / "records.json"))
