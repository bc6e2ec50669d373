"""The demo process's temporary storage, and its removal on exit, SIGINT or SIGTERM.

A served demo writes uploads (gradio's upload cache), results (one folder per run) and whatever
libraries put in the temporary folder (torch's caches). `DemoSession.start()` makes one session
folder and points `tempfile`, `TMPDIR` and `GRADIO_TEMP_DIR` at it, so all of that lives in one
place, and results are served from where they were written (gradio copies a returned file into its
cache unless it is already inside it). `close()` removes the folder and restores the environment.

`stop_on_terminate()` turns SIGTERM (how systemd, docker and Kubernetes stop a service) into the
same `KeyboardInterrupt` that SIGINT raises, so both reach the code that closes the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recon3r.errors import ConfigError

# Environment variables pointed at the session folder while it is open.
TEMP_VARIABLES = ("TMPDIR", "GRADIO_TEMP_DIR")


@dataclass
class DemoSession:
    """One demo process's temporary folder: `folder` holds gradio's cache and `runs/` the results."""

    folder: Path
    _saved_environ: dict[str, str | None] = field(default_factory=dict, repr=False)
    _saved_tempdir: str | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def start(cls, parent: str | Path | None = None) -> DemoSession:
        """Create the session folder (in `parent`, default the system temporary folder) and send
        every temporary file of this process into it. Raises ConfigError for an unusable `parent`."""
        if parent is not None:
            parent = Path(parent)
            if parent.exists() and not parent.is_dir():
                raise ConfigError(f"--workdir {parent} is a file; give a folder (or leave it out)")
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConfigError(f"--workdir {parent}: cannot create it ({err.strerror})") from None
        try:
            folder = Path(tempfile.mkdtemp(prefix="recon3r-demo-", dir=parent)).resolve()
        except OSError as err:
            raise ConfigError(f"cannot create the demo's temporary folder in {parent or tempfile.gettempdir()} "
                              f"({err.strerror}); give a writable --workdir") from None
        session = cls(folder=folder, _saved_environ={k: os.environ.get(k) for k in TEMP_VARIABLES},
                      _saved_tempdir=tempfile.tempdir)
        for name in TEMP_VARIABLES:
            os.environ[name] = str(folder)
        tempfile.tempdir = str(folder)
        return session

    @property
    def runs(self) -> Path:
        """Parent of the per-run result folders (inside gradio's cache, so results are stored once)."""
        return self.folder / "runs"

    def close(self) -> None:
        """Remove the session folder and restore `tempfile`, `TMPDIR` and `GRADIO_TEMP_DIR` (idempotent)."""
        if self._closed:
            return
        self._closed = True
        tempfile.tempdir = self._saved_tempdir
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(self.folder, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


@contextlib.contextmanager
def stop_on_terminate() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt in the main thread, as SIGINT does.

    Outside the main thread (where Python cannot set signal handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while inside (so a second Ctrl-C cannot cut the cleanup short)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
