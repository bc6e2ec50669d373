"""PeakMemory measures the peak of the block it wraps (resident set on CPU), not of the whole process."""

from __future__ import annotations

import math

import pytest
import torch

from recon3r.utils.memory import MAXRSS_MEASURE, RSS_MEASURE, PeakMemory


def test_cpu_peak_covers_a_tensor_allocated_inside_the_block():
    with PeakMemory("cpu") as small:
        torch.ones(1000)
    with PeakMemory("cpu") as large:
        block = torch.ones(64, 2**20)  # 256 MB, touched
        del block
    assert small.measure in (RSS_MEASURE, MAXRSS_MEASURE) and math.isfinite(large.megabytes)
    assert large.megabytes > 256
    if small.measure != RSS_MEASURE:
        pytest.skip("the peak resident set cannot be reset here (no /proc/self/clear_refs): only the bound is checked")
    # Reset per block: the small block's peak does not include the large one's 256 MB.
    with PeakMemory("cpu") as after:
        torch.ones(1000)
    assert after.megabytes < large.megabytes - 200
