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
