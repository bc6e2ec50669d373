"""benchmarks/lrm.py runs the tiny configuration through the novel_view evaluator and prints its table."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lrm_benchmark_prints_one_row_per_configuration_and_the_baseline():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lrm.py"), "--configs", "tiny", "--objects", "1",
                           "--views", "2", "--size", "32", "--mesh-size", "8"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "### novel_view on `procedural-objects-test`" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]]
    assert [c[0] for c in cells] == ["tiny", "mean-colour"]
    assert all(c[5] == "1/1" and float(c[6]) >= 0 for c in cells)
    assert "Parameters: tiny 0.07 M" in done.stdout
