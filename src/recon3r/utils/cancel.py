"""Cooperative cancellation: long loops ask a `cancel` callable between units of work.

A caller that may want to stop a run (the web demo, when its client cancels a request) passes
`cancel=event.is_set` (a `threading.Event`) or any callable returning a bool; the pipeline calls
`raise_if_cancelled(cancel, where)` at stage boundaries, per inference batch and per alignment
step, so a cancelled run stops within one unit of work and releases what it holds.
"""

from __future__ import annotations

from collections.abc import Callable

from recon3r.errors import Cancelled

CancelCheck = Callable[[], bool]


def raise_if_cancelled(cancel: CancelCheck | None, where: str) -> None:
    """Raise `recon3r.errors.Cancelled` naming `where` if `cancel` is given and returns True."""
    if cancel is not None and cancel():
        raise Cancelled(f"cancelled at {where}")
