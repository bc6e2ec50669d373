"""The output-folder policy: checked before compute, never over inputs, replaced only whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recon3r.errors import OutputError
from recon3r.io import output_dir as policy
from recon3r.io.output_dir import (
    MARKER_NAME,
    atomic_write,
    check_output_dir,
    check_output_file,
    prepare_training_dir,
    read_marker,
)


def _write_result(output, files: dict[str, str]) -> None:
    with output.staged() as staging:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text)


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.recon3r"))


def test_a_new_folder_appears_complete_with_a_marker(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    output = check_output_dir(out, "reconstruct")
    assert not out.exists()  # checking creates nothing
    _write_result(output, {"points.ply": "x", "sparse/0/cameras.txt": "y"})
    assert (out / "points.ply").read_text() == "x" and (out / "sparse/0/cameras.txt").read_text() == "y"
    marker = read_marker(out)
    assert marker["command"] == "reconstruct" and sorted(marker["entries"]) == ["points.ply", "sparse"]
    assert _siblings(out) == []


def test_an_empty_existing_folder_is_used(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".DS_Store").write_text("")  # what file browsers leave does not count
    _write_result(check_output_dir(out, "stream"), {"points.ply": "x"})
    assert (out / "points.ply").is_file()


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_path_is_refused(text):
    with pytest.raises(OutputError, match="--out is empty"):
        check_output_dir(text, "reconstruct")
    with pytest.raises(OutputError, match="--out is empty"):
        check_output_file(text)


def test_a_file_is_not_a_folder_and_a_folder_is_not_a_file(tmp_path):
    (tmp_path / "f.txt").write_text("keep")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f.txt", "reconstruct")
    with pytest.raises(OutputError, match=r"f.txt is a file, so no folder can be made"):
        check_output_dir(tmp_path / "f.txt" / "sub", "reconstruct")
    with pytest.raises(OutputError, match="is a folder; give a file path"):
        check_output_file(tmp_path)
    assert (tmp_path / "f.txt").read_text() == "keep"


def test_an_unwritable_place_is_refused(tmp_path):
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "out"
    elif Path("/sys").is_dir():
        target = Path("/sys/recon3r-out")  # sysfs: not writable even by root
    else:
        pytest.skip("running as root without /sys: no unwritable folder to test with")
    with pytest.raises(OutputError, match="cannot write in"):
        check_output_dir(target, "reconstruct")


def test_inputs_are_never_outputs(tmp_path):
    images = tmp_path / "scene" / "images"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(b"png")
    with pytest.raises(OutputError, match="holds an input"):
        check_output_dir(tmp_path / "scene", "reconstruct", inputs=[images])
    with pytest.raises(OutputError, match="holds an input"):
        check_output_dir(tmp_path / "scene", "reconstruct", inputs=[images / "a.png"])
    with pytest.raises(OutputError, match="is also an input"):
        check_output_dir(images, "reconstruct", inputs=[images])
    with pytest.raises(OutputError, match="is also an input"):
        check_output_file(images / "a.png", inputs=[images / "a.png"], overwrite=True)
    # Writing next to the inputs, or below their folder, is fine.
    check_output_dir(images / "out", "reconstruct", inputs=[images])


def test_a_symlink_to_an_input_folder_is_seen_through(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (tmp_path / "link").symlink_to(images)
    with pytest.raises(OutputError, match="is also an input"):
        check_output_dir(tmp_path / "link", "reconstruct", inputs=[images])


def test_a_foreign_folder_is_refused_even_with_overwrite(tmp_path):
    (tmp_path / "thesis.tex").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not empty and was not written by recon3r.*thesis.tex"):
            check_output_dir(tmp_path, "reconstruct", overwrite=overwrite)
    assert (tmp_path / "thesis.tex").read_text() == "mine"


def test_an_earlier_result_is_replaced_only_with_overwrite_and_leaves_no_stale_files(tmp_path):
    out = tmp_path / "out"
    _write_result(check_output_dir(out, "reconstruct"), {"old.ply": "1", "images/a.png": "a"})
    with pytest.raises(OutputError, match="already holds a `recon3r reconstruct` result.*--overwrite"):
        check_output_dir(out, "reconstruct")
    _write_result(check_output_dir(out, "reconstruct", overwrite=True), {"new.ply": "2"})
    assert sorted(os.listdir(out)) == sorted([MARKER_NAME, "new.ply"])
    assert _siblings(out) == []


def test_files_added_by_hand_block_the_overwrite(tmp_path):
    out = tmp_path / "out"
    _write_result(check_output_dir(out, "reconstruct"), {"points.ply": "1"})
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="files recon3r did not write.*notes.txt"):
        check_output_dir(out, "reconstruct", overwrite=True)


def test_another_commands_output_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    _write_result(check_output_dir(out, "convert"), {"model.safetensors": "w"})
    with pytest.raises(OutputError, match="holds the output of `recon3r convert`"):
        check_output_dir(out, "reconstruct", overwrite=True)


def test_a_failed_write_keeps_the_previous_result_and_removes_its_staging(tmp_path):
    out = tmp_path / "out"
    _write_result(check_output_dir(out, "reconstruct"), {"points.ply": "old"})
    with pytest.raises(RuntimeError, match="export failed"):
        with check_output_dir(out, "reconstruct", overwrite=True).staged() as staging:
            (staging / "points.ply").write_text("half")
            raise RuntimeError("export failed")
    assert (out / "points.ply").read_text() == "old" and _siblings(out) == []


def test_without_an_atomic_exchange_the_two_renames_also_replace_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(policy, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    _write_result(check_output_dir(out, "reconstruct"), {"a.ply": "1"})
    _write_result(check_output_dir(out, "reconstruct", overwrite=True), {"b.ply": "2"})
    assert sorted(os.listdir(out)) == sorted([MARKER_NAME, "b.ply"]) and _siblings(out) == []


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_leftovers_of_a_killed_run_are_cleaned_and_a_parked_folder_restored(tmp_path):
    out = tmp_path / "out"
    _write_result(check_output_dir(out, "reconstruct"), {"points.ply": "old"})
    pid = _dead_pid()
    stale = tmp_path / f".out.recon3r-staging-{pid}-abc"
    stale.mkdir()
    (stale / "half.ply").write_text("half")
    check_output_dir(out, "reconstruct", overwrite=True)
    assert not stale.exists() and (out / "points.ply").read_text() == "old"
    # Killed between the two renames of the fallback: the folder is parked, `out` is missing.
    parked = tmp_path / f".out.recon3r-previous-{pid}"
    out.rename(parked)
    check_output_dir(out, "reconstruct", overwrite=True)
    assert (out / "points.ply").read_text() == "old" and not parked.exists()


def test_a_running_processes_staging_is_left_alone(tmp_path):
    out = tmp_path / "out"
    busy = tmp_path / f".out.recon3r-staging-{os.getppid()}-abc"
    busy.mkdir()
    check_output_dir(out, "reconstruct")
    assert busy.exists()


def test_output_files_need_overwrite_and_are_written_atomically(tmp_path):
    path = tmp_path / "results.json"
    with pytest.raises(OutputError, match="must end in .json"):
        check_output_file(tmp_path / "results.txt", suffixes=(".json",))
    with atomic_write(check_output_file(path, suffixes=(".json",))) as temporary:
        temporary.write_text("{}")
    assert json.loads(path.read_text()) == {}
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        check_output_file(path)
    with pytest.raises(ValueError, match="boom"), atomic_write(check_output_file(path, overwrite=True)) as temporary:
        temporary.write_text("half")
        raise ValueError("boom")
    assert path.read_text() == "{}" and sorted(os.listdir(tmp_path)) == ["results.json"]


def test_results_get_the_usual_permissions(tmp_path):
    out = tmp_path / "out"
    _write_result(check_output_dir(out, "reconstruct"), {"points.ply": "x"})
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask


def test_training_folders_resume_and_foreign_ones_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    run = tmp_path / "run"
    assert prepare_training_dir(run) == run.resolve()
    assert read_marker(run)["command"] == "train"
    (run / "checkpoint-last").mkdir()
    prepare_training_dir(run)  # a recon3r training folder: resumed
    legacy = tmp_path / "legacy"
    (legacy / "checkpoint-last").mkdir(parents=True)
    prepare_training_dir(legacy)  # written before markers existed: still recognised
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("1")
    with pytest.raises(OutputError, match="not a recon3r training folder"):
        prepare_training_dir(foreign)
    other = tmp_path / "other"
    _write_result(check_output_dir(other, "reconstruct"), {"points.ply": "x"})
    with pytest.raises(OutputError, match="holds the output of `recon3r reconstruct`"):
        prepare_training_dir(other)
    weights = tmp_path / "w"
    weights.mkdir()
    with pytest.raises(OutputError, match="is also an input"):
        prepare_training_dir(weights, inputs=[weights])
