"""benchmarks/stream.py runs end to end at a toy budget and prints its three-row table."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stream_benchmark_prints_its_table(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["--steps", "3", "--train-scenes", "2", "--test-scenes", "1", "--views", "4", "--frames", "3",
            "--save-weights", str(tmp_path / "w")]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "stream.py"), *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == [
        "Point3R tiny (trained)", "Point3R tiny (untrained)", "constant plane"]
    assert (tmp_path / "w" / "model.safetensors").exists()
