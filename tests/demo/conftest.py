"""Fixtures of the demo tests (the tiny checkpoint and the photos come from tests/conftest.py)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_model(tiny_weights):
    from recon3r import load_model

    return load_model(tiny_weights, device="cpu")


@pytest.fixture(scope="session")
def photos(photo_paths):
    """The shared panning photos; with the seeded tiny model they give a finite two-view alignment."""
    return photo_paths


@pytest.fixture(scope="session")
def five_photos(photo_paths, tmp_path_factory):
    """Five views of the same pan: the three shared photos and two more, shifted further."""
    folder = tmp_path_factory.mktemp("five_photos")
    base = np.asarray(Image.open(photo_paths[0]))
    extra = []
    for k in (3, 4):
        extra.append(folder / f"view_{k}.png")
        Image.fromarray(np.roll(base, 12 * k, axis=1)).save(extra[-1])
    return [*photo_paths, *extra]


@pytest.fixture(scope="session")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo_text") / "notes.txt"
    path.write_text("these are not pixels\n")
    return path


# ------------------------------------------------------------------ `recon3r demo` in a subprocess
@dataclass
class DemoProcess:
    """A `recon3r demo` subprocess on a loopback port, with its own TMPDIR (`tmpdir`)."""

    url: str
    process: subprocess.Popen
    tmpdir: Path
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig`, wait for the exit and return the exit code (killed after `timeout` s)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"the demo did not stop within {timeout:.0f} s of {signal.Signals(sig).name}; "
                                     f"log:\n{self.log_tail()}") from None
        return self.process.returncode

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited with code {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"the demo did not answer at {url} within {timeout:.0f} s")


@pytest.fixture(scope="session")
def start_demo(tiny_weights, tmp_path_factory):
    """`start_demo(*flags)` runs `recon3r demo` with the tiny model on a free loopback port and an
    empty TMPDIR of its own, waits until it serves, and returns a `DemoProcess`. Processes still
    running at the end of the session are stopped."""
    started: list[DemoProcess] = []

    def start(*flags: str) -> DemoProcess:
        folder = tmp_path_factory.mktemp("demo_process")
        tmpdir = folder / "tmp"
        tmpdir.mkdir()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
        env.update(TMPDIR=str(tmpdir), GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS="1")
        log = folder / "server.log"
        with open(log, "w") as handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "recon3r", "demo", "--weights", str(tiny_weights), "--port", str(port),
                 "--device", "cpu", *flags], stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=folder)
        demo = DemoProcess(url=f"http://127.0.0.1:{port}/", process=process, tmpdir=tmpdir, log=log)
        started.append(demo)
        try:
            wait_for_server(demo.url, process)
        except AssertionError as err:
            demo.stop(signal.SIGKILL)
            raise AssertionError(f"{err}; log:\n{demo.log_tail()}") from None
        return demo

    yield start
    for demo in started:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()
