"""Progress bars: tqdm when installed (the `cli` extra), a plain stderr counter otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], desc: str = "", total: int | None = None, enabled: bool = True,
             unit: str | None = None) -> Iterator[T]:
    """Iterate over `items` while showing progress on stderr; with `unit`, also the rate in units per second."""
    if not enabled:
        yield from items
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        yield from _plain_progress(items, desc, total, unit)
        return
    # Not `yield from`: when a loop over this generator stops early (an error, a cancelled run),
    # `yield from` would call the iterator's close() without arguments, and gradio's progress
    # tracker, which stands in for tqdm's iterator inside the demo, needs one. Close the bar instead.
    bar = tqdm(items, desc=desc, total=total, dynamic_ncols=True, file=sys.stderr, unit=unit or "it")
    try:
        for item in bar:  # noqa: UP028
            yield item
    finally:
        bar.close()


def _plain_progress(items: Iterable[T], desc: str, total: int | None, unit: str | None = None) -> Iterator[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    start, last = time.monotonic(), 0.0
    count = 0
    for count, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last > 1.0 or count == total:
            last = now
            of = f"/{total}" if total else ""
            rate = f", {count / max(now - start, 1e-9):.1f} {unit}/s" if unit else ""
            print(f"\r{desc}: {count}{of} [{now - start:.1f}s{rate}]", end="", file=sys.stderr, flush=True)
    if count:
        print(file=sys.stderr)
