"""Peak memory of a block of work, on the device that does it (for evaluation and benchmark reports).

Which number is measured (`PeakMemory.measure` names it in reports):
- CUDA: `torch.cuda.max_memory_allocated`, reset at entry: the tensors' peak, not the cache;
- CPU on Linux: the process's peak resident set (`VmHWM` of /proc/self/status), reset at entry by
  writing 5 to /proc/self/clear_refs, so it is the block's peak resident set (weights included);
- elsewhere: `resource.getrusage(...).ru_maxrss`, the peak resident set since the process started
  (it cannot be reset, so it bounds the block's peak from above).
`tracemalloc` is not used: it sees Python allocations only, not torch's tensor memory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

CUDA_MEASURE = "peak allocated tensors, torch.cuda.max_memory_allocated"
RSS_MEASURE = "peak resident set of the process, VmHWM reset per measurement"
MAXRSS_MEASURE = "peak resident set since the process started, ru_maxrss"


def _peak_resident_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak_resident() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _peak_resident_mb() is not None


def _max_rss_mb() -> float:
    try:
        import resource
    except ImportError:  # not on POSIX
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, kB on Linux


class PeakMemory:
    """`with PeakMemory(device) as peak: ...` then `peak.megabytes` (MB) and `peak.measure` (what it is)."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.megabytes = float("nan")
        self.measure = ""
        self._resettable = False

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.measure = CUDA_MEASURE
        else:
            self._resettable = _reset_peak_resident()
            self.measure = RSS_MEASURE if self._resettable else MAXRSS_MEASURE
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.megabytes = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._resettable:
            self.megabytes = _peak_resident_mb() or float("nan")
        else:
            self.megabytes = _max_rss_mb()
