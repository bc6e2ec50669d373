"""benchmarks/stream.py runs end to end at a toy length and prints one row per stream length."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stream_benchmark_prints_a_row_per_stream_length():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"), CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "stream.py"), "--frames", "2", "5"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in done.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("|---")][1:]
    assert [(r[0], r[2], r[3]) for r in rows] == [("tiny", "2", "64×48"), ("tiny", "5", "64×48")]
    assert 12 <= int(rows[0][6]) <= int(rows[1][6]) <= 5 * 12
