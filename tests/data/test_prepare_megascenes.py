"""`recon3r data megascenes`: COLMAP models + metadata (written here in MegaScenes' real layout) → MegaScenes files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from recon3r.cli import main
from recon3r.data import MegaScenes
from recon3r.data.megascenes import load_restricted_pickle
from recon3r.data.prepare.megascenes import MegaScenesPrepareConfig, prepare_megascenes, scene_folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, raw_megascenes):
    raw = tmp_path_factory.mktemp("megascenes_raw")
    truth = raw_megascenes(raw)
    out = tmp_path_factory.mktemp("megascenes_out")
    report = prepare_megascenes(MegaScenesPrepareConfig(megascenes_dir=str(raw), output_dir=str(out), progress=False))
    records = load_restricted_pickle(out / "train_images.pkl")
    pairs = load_restricted_pickle(out / "train_pairs.pkl")
    return raw, out, truth, report, records, pairs


def key_of(out, raw, truth, name):
    return os.path.relpath(raw / "images" / truth["scene"] / name, out)


def test_pairs_come_from_shared_3d_points(prepared):
    raw, out, truth, _, records, pairs = prepared
    keys = [key_of(out, raw, truth, n) for n in truth["names"]]
    # Images 0-3 see 40 points each with overlaps ≥ 0.5; image 4 shares 2 of 40 points (0.05 < 0.1).
    expected = {tuple(sorted((keys[a], keys[b]))) for a in range(4) for b in range(a + 1, 4)}
    assert set(pairs) == expected
    assert set(records) == set(keys[:4])


def test_skipped_images_are_reported_with_reasons(prepared):
    _, out, truth, report, _, _ = prepared
    reasons = {item.split(": ", 1)[1]: reason for item, reason in report.skipped}
    names = truth["names"]
    assert reasons[names[5]] == "image file not found"
    assert reasons[names[6]] == "sees no 3D point of the reconstruction"
    assert "shares too few 3D points" in next(r for i, r in reasons.items() if i.endswith("photo_4.jpg"))
    saved = json.loads((out / "skipped_images.json").read_text())
    assert len(saved) == 3


def test_records_hold_exact_cameras_and_the_points_each_image_sees(prepared):
    raw, out, truth, _, records, _ = prepared
    for i, name in enumerate(truth["names"][:4]):
        record = records[key_of(out, raw, truth, name)]
        np.testing.assert_allclose(record["extrinsics"], truth["cam_from_world"][name], atol=1e-9)
        K = record["intrinsics"]
        scale = 2 if i == 2 else 1  # image 2's file is twice the camera's size
        for x, y, xyz in truth["observations"][name]:
            cam = record["extrinsics"][:3, :3] @ xyz + record["extrinsics"][:3, 3]
            pixel = (K @ cam)[:2] / cam[2]
            # COLMAP's pixel grid starts at the image corner; recon3r's at the first pixel centre.
            np.testing.assert_allclose(pixel, (np.array([x, y]) * scale) - 0.5, atol=1e-4)
        assert record["pointxyz"].shape == (40, 3) and record["pointxyz"].dtype == np.float32


def test_captions_come_from_exif_metadata(prepared):
    raw, out, truth, _, records, _ = prepared
    captions = [records[key_of(out, raw, truth, n)]["caption"] for n in truth["names"][:4]]
    assert captions[0] == ("Make: Canon, Model: Canon EOS 0D, FocalLength: 35.0 mm, FNumber: f/2.8, "
                           "ExposureTime: 1/250, ISOSpeedRatings: 200, ImageWidth: 64, ImageHeight: 48")
    assert "FocalLength: 37.0 mm" in captions[2] and "ImageWidth: 128" in captions[2]
    assert "Artist" not in captions[0]  # licensing fields are not camera metadata
    assert captions[3].startswith("Make: Nikon, Model: D750, FocalLength: 24.0 mm")  # the photo's own EXIF


def test_megascenes_loader_reads_the_output(prepared):
    _, out, _, _, records, pairs = prepared
    dataset = MegaScenes(str(out / "train_pairs.pkl"), str(out / "train_images.pkl"), split="train", resolution=(32, 24))
    assert len(dataset) == len(pairs) == 6
    view1, view2 = dataset[0]
    assert view1["img"].shape == (3, 24, 32) and view1["caption"].startswith("Make: ")
    assert view1["valid_mask"].any()  # track points splat into sparse depth


def test_rerun_resumes_scene_by_scene(prepared, capsys):
    raw, out, _, first, _, _ = prepared
    code = main(["data", "megascenes", "--megascenes_dir", str(raw), "--output_dir", str(out), "--scenes", "7",
                 "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"0 written, {first.written} already there (resumed), 3 skipped" in printed
    assert "MegaScenes('" in printed


def test_min_overlap_and_scene_ids(tmp_path, raw_megascenes):
    assert scene_folder("7") == scene_folder(7) == scene_folder("000/007") == "000/007"
    with pytest.raises(ValueError, match="bad MegaScenes scene id"):
        scene_folder("Eiffel")
    raw = tmp_path / "raw"
    raw_megascenes(raw)
    report = prepare_megascenes(MegaScenesPrepareConfig(megascenes_dir=str(raw), output_dir=str(tmp_path / "o"),
                                                        min_overlap=0.01, progress=False))
    assert report.written == 5  # image 4 now pairs with images 0 and 3
    with pytest.raises(ValueError, match="no reconstruct/ folder"):
        prepare_megascenes(MegaScenesPrepareConfig(megascenes_dir=str(tmp_path), output_dir=str(tmp_path / "x")))


def test_one_training_step_on_the_output_with_the_multimodal_seeds_megascenes_spec(prepared, tmp_path):
    from recon3r.train.config import TrainConfig
    from recon3r.train.trainer import train

    _, out, _, _, _, _ = prepared
    spec = f"MegaScenes('{out / 'train_pairs.pkl'}', '{out / 'train_images.pkl'}', split='train', resolution=(224,224))"
    model = ("AsymmetricCroCo3DStereoAndText(patch_embed_cls='ManyAR_PatchEmbed', img_size=(224, 224), "
             "depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), pos_embed='RoPE100', enc_embed_dim=32, "
             "enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2)")
    summary = train(TrainConfig(model=model, train_dataset=spec, max_steps=1, batch_size=2, lr=1e-4, device="cpu",
                                output_dir=str(tmp_path / "run"), log_freq=1), show_progress=False)
    assert summary["global_step"] == 1 and np.isfinite(summary["train"]["loss"])
