"""benchmarks/lrm.py runs on the tiny configuration and prints its table."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lrm_benchmark_prints_one_row_per_configuration():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lrm.py"), "--configs", "tiny", "--grid", "8"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]]
    assert [c[0] for c in cells] == ["tiny"] and cells[0][2] == "28²"
    assert all(float(v) > 0 for v in cells[0][4:])
