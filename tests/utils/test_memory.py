"""PeakMemory measures the peak of the block it wraps (resident set on CPU), not of the whole process."""

from __future__ import annotations

import math

import pytest

from recon3r.utils.memory import MAXRSS_MEASURE, RSS_MEASURE

_PEAKS_IN_A_FRESH_PROCESS = """
import json, torch
from recon3r.utils.memory import PeakMemory
with PeakMemory("cpu") as small:
    torch.ones(1000)
with PeakMemory("cpu") as large:
    block = torch.ones(64, 2**20)  # 256 MB, touched
    del block
with PeakMemory("cpu") as after:
    torch.ones(1000)
print(json.dumps([small.measure, large.megabytes, after.megabytes]))
"""


def test_cpu_peak_covers_a_tensor_allocated_inside_the_block():
    """Run in a fresh process: in a long test session freed memory stays resident and hides the block."""
    import json
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PEAKS_IN_A_FRESH_PROCESS], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    measure, large, after = json.loads(done.stdout.strip().splitlines()[-1])
    assert measure in (RSS_MEASURE, MAXRSS_MEASURE) and math.isfinite(large)
    assert large > 256
    if measure != RSS_MEASURE:
        pytest.skip("the peak resident set cannot be reset here (no /proc/self/clear_refs): only the bound is checked")
    # Reset per block: the small block's peak does not include the large one's 256 MB.
    assert after < large - 200
