"""benchmarks/lrm.py runs end to end at a toy budget and prints its three-row table."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lrm_benchmark_prints_its_table(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["--steps", "3", "--train-scenes", "2", "--test-scenes", "2", "--views", "3", "--save-weights", str(tmp_path / "w")]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lrm.py"), *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]]
    assert [c[0] for c in cells] == ["LRM tiny (trained)", "LRM tiny (untrained)", "mean colour of the source"]
    assert all(float(c[1]) > 0 for c in cells) and cells[2][3] == "0.000"
    assert (tmp_path / "w" / "model.safetensors").exists()
