"""`recon3r reconstruct` never loses data: inputs untouched, old results kept until new ones are whole,
names COLMAP can read, and a point cloud (or a clear warning) whatever the model's confidence scale."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recon3r.cli import main
from recon3r.io.output_dir import HOLD_ENV, MARKER_NAME

FAST = ["--niter", "3", "--size", "224", "--quiet"]
DINO = Path("../shared/data/middlebury_dino_sparse_ring/images")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_output_folder_holding_the_inputs_is_refused_and_originals_stay_byte_identical(
        tiny_weights, photo_paths, tmp_path, capsys):
    images = tmp_path / "scene" / "images"
    images.mkdir(parents=True)
    for path in photo_paths[:2]:
        shutil.copy(path, images / path.name)
    before = _digest(tmp_path / "scene")
    code = main(["reconstruct", str(images), "--weights", str(tiny_weights), "--out", str(tmp_path / "scene"), *FAST])
    assert code == 2
    assert "holds an input" in capsys.readouterr().err
    assert _digest(tmp_path / "scene") == before
    assert sorted(os.listdir(tmp_path)) == ["scene"]  # nothing written next to it either


def test_sigkill_during_export_leaves_the_previous_output_intact(tiny_weights, photo_paths, tmp_path):
    out = tmp_path / "out"
    argv = ["reconstruct", *map(str, photo_paths), "--weights", str(tiny_weights), "--out", str(out), *FAST]
    assert main(argv) == 0
    before = _digest(out)
    ready = tmp_path / "export-finished"
    env = {**os.environ, HOLD_ENV: str(ready), "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "recon3r", *argv, "--overwrite", "--formats", "ply,npz"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), process.stderr.read().decode() if process.poll() is not None else "timed out"
        staging = [p for p in tmp_path.iterdir() if p.name.startswith(".out.recon3r-staging-")]
        assert len(staging) == 1 and (staging[0] / "points.ply").is_file()  # the new result, complete, aside
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert _digest(out) == before  # the old folder, whole; the half-written new one never mixed in
    assert main(argv + ["--overwrite", "--formats", "ply"]) == 0  # the next run cleans up and replaces it
    assert sorted(os.listdir(out)) == sorted([MARKER_NAME, "points.ply"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.recon3r")]


def test_names_with_spaces_and_accents_read_back_in_pycolmap(tiny_weights, photo_paths, tmp_path):
    import pycolmap

    folder = tmp_path / "my photos"
    folder.mkdir()
    names = ["photo one é.png", "photo two.png", "photo three.png"]
    for path, name in zip(photo_paths, names):
        shutil.copy(path, folder / name)
    out = tmp_path / "out"
    assert main(["reconstruct", str(folder), "--weights", str(tiny_weights), "--out", str(out), *FAST]) == 0
    rec = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    read = sorted(image.name for image in rec.images.values())
    assert read == sorted(["photo_one_e.png", "photo_two.png", "photo_three.png"])
    assert all((out / "images" / name).is_file() for name in read)
    with np.load(out / "scene.npz") as data:
        mapping = dict(zip(data["export_names"].tolist(), data["source_paths"].tolist()))
    assert mapping["photo_one_e.png"] == str(folder / "photo one é.png")


def test_the_same_file_name_from_two_folders_exports_every_image(tiny_weights, photo_paths, tmp_path):
    for sub, path in (("day", photo_paths[0]), ("night", photo_paths[1])):
        (tmp_path / sub).mkdir()
        shutil.copy(path, tmp_path / sub / "img.png")
    out = tmp_path / "out"
    code = main(["reconstruct", str(tmp_path / "day" / "img.png"), str(tmp_path / "night" / "img.png"),
                 "--weights", str(tiny_weights), "--out", str(out), *FAST])
    assert code == 0
    assert sorted(p.name for p in (out / "images").iterdir()) == ["img.png", "img_0001.png"]
    with np.load(out / "scene.npz") as data:
        assert data["source_paths"].tolist() == [str(tmp_path / "day" / "img.png"), str(tmp_path / "night" / "img.png")]


def test_a_threshold_that_keeps_nothing_is_said_with_a_suggestion(tiny_weights, photo_paths, tmp_path, capsys):
    code = main(["reconstruct", *map(str, photo_paths), "--weights", str(tiny_weights), "--out", str(tmp_path / "o"),
                 "--min-conf", "1e6", "--formats", "ply", *FAST])
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: --min-conf 1e+06 keeps 0 of" in err and "try --min-conf" in err and "will be empty" in err


def test_the_min_conf_flag_defaults_to_the_config_default(capsys):
    from recon3r.reconstruct import ReconstructConfig

    with pytest.raises(SystemExit):
        main(["reconstruct", "--help"])
    assert f"(default: {ReconstructConfig.min_conf})" in " ".join(capsys.readouterr().out.split())


def test_shipped_model_keeps_points_on_real_photos_with_default_flags(tmp_path, capsys):
    if not DINO.is_dir():
        pytest.skip(f"{DINO} is missing")
    photos = [str(DINO / f"dinoSR000{k}.png") for k in (1, 2, 3, 4)]
    # Default flags but few alignment steps: the kept points depend on the network's confidences only.
    code = main(["reconstruct", *photos, "--out", str(tmp_path / "dino"), "--niter", "20", "--formats", "ply",
                 "--quiet"])
    assert code == 0
    captured = capsys.readouterr()
    kept = int(captured.out.split("points kept: ")[1].split(" of")[0].replace(",", ""))
    assert kept > 0 or "try --min-conf" in captured.err
    from plyfile import PlyData

    assert PlyData.read(str(tmp_path / "dino" / "points.ply"))["vertex"].count == kept > 0
