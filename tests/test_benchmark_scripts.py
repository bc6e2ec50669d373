"""The benchmark scripts still run: the smallest case of each prints its Markdown table.

Timings are not asserted (they belong in benchmarks/README.md); the tables' shape and the
error columns that are exact on oracle data are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_pair_forward_prints_one_row_per_resolution():
    rows = _table_rows(_run("benchmarks/pair_forward.py", "--quick", "--batch-sizes", "1", "--threads", "1"))
    assert [row[2] for row in rows] == ["224×224", "512×384"]
    assert all(row[1] == "0.40 M" and float(row[8]) > 0 for row in rows)


def test_align_reaches_exact_poses_on_oracle_predictions():
    out = _run("benchmarks/align.py", "--cases", "4:complete:30", "--threads", "1", "--size", "64")
    dense, fast = _table_rows(out)
    assert dense[:5] == ["4", "complete", "12", "optimize", "30"] and fast[:4] == ["4", "complete", "12", "fast"]
    assert float(dense[11]) == 100.0 and float(fast[11]) == 100.0  # RRA@5 on oracle pairs


def test_floor_prints_both_dtypes_and_both_paths():
    rows = _table_rows(_run("benchmarks/floor.py", "--config", "tiny", "--threads", "1", "--repeats", "1"))
    assert [row[:2] for row in rows] == [["float32", "symmetrized forward"], ["float32", "run_pairs"],
                                         ["bfloat16", "symmetrized forward"], ["bfloat16", "run_pairs"]]
    assert rows[0][6] == "1.00×" and float(rows[1][3]) < float(rows[0][3])  # fewer FLOPs per pair


def test_floor_times_a_reference_checkout_with_recon3rs_weights(tmp_path):
    """A stand-in checkout whose `dust3r.model` is recon3r's class under the reference's name: the row,
    the parity line (0 difference) and the speed-up column appear; a folder without it is named."""
    (tmp_path / "dust3r").mkdir()
    (tmp_path / "dust3r" / "__init__.py").write_text("")
    (tmp_path / "dust3r" / "model.py").write_text("from recon3r.models import AsymmetricCroCo3DStereo\n")
    out = _run("benchmarks/floor.py", "--config", "tiny", "--threads", "1", "--repeats", "1",
               "--reference-src", str(tmp_path))
    rows = _table_rows(out)
    assert rows[0][:2] == ["reference float32", "symmetrized forward"] and rows[0][7] == "1.00×"
    assert len(rows) == 5 and all(row[7].endswith("×") for row in rows)
    assert "max |difference| / max |value| = 0.0e+00" in out
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "benchmarks/floor.py", "--config", "tiny", "--reference-src",
                           str(tmp_path / "dust3r")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "no dust3r/model.py there" in done.stderr


def test_dino_ring_captions_carry_each_photos_calibrated_focal(shared_path):
    """captions_dino_ring.py writes the caption a camera would: the 35 mm focal of the calibration, doubled when wrong."""
    import importlib.util

    from recon3r.eval.realsets import load_real_set
    from recon3r.text import focal_35mm_equivalent, parse_caption

    ring = load_real_set(shared_path("data", "middlebury_dino_sparse_ring"))
    spec = importlib.util.spec_from_file_location("captions_dino_ring", ROOT / "benchmarks" / "captions_dino_ring.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    true, wrong = script.ring_captions(ring), script.ring_captions(ring, 2.0)
    assert sorted(true) == sorted(Path(p).name for p in ring.image_paths)
    for path, k, (width, height) in zip(ring.image_paths, ring.intrinsics, ring.image_sizes):
        name = Path(path).name
        expected = focal_35mm_equivalent(float(k[0, 0]), width, height)
        read_true = float(parse_caption(true[name])["FocalLengthIn35mmFilm"])
        read_wrong = float(parse_caption(wrong[name])["FocalLengthIn35mmFilm"])
        assert abs(read_true - expected) <= 0.5 + 1e-6
        assert abs(read_wrong - 2 * read_true) <= 1.0
        assert parse_caption(true[name])["ImageWidth"] == str(width)
