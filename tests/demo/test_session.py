"""The demo's session folder: every temporary file of the process in one place, removed on close."""

import os
import signal
import tempfile

import pytest

from recon3r.demo.session import DemoSession, signals_deferred, stop_on_terminate
from recon3r.errors import ConfigError


def test_session_holds_every_temporary_file_and_close_removes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "before"))
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    saved = tempfile.tempdir
    session = DemoSession.start(tmp_path / "parent")
    try:
        assert session.folder.parent == (tmp_path / "parent").resolve()
        assert tempfile.gettempdir() == str(session.folder)
        assert os.environ["TMPDIR"] == os.environ["GRADIO_TEMP_DIR"] == str(session.folder)
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(b"upload")
        assert handle.name.startswith(str(session.folder))
    finally:
        session.close()
    assert list((tmp_path / "parent").iterdir()) == []
    assert os.environ["TMPDIR"] == str(tmp_path / "before") and "GRADIO_TEMP_DIR" not in os.environ
    assert tempfile.tempdir == saved
    session.close()  # twice is fine


def test_a_file_as_workdir_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"--workdir .*notes\.txt is a file"):
        DemoSession.start(tmp_path / "notes.txt")


def test_sigterm_raises_keyboard_interrupt_like_sigint_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="stopped by SIGTERM"), stop_on_terminate():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_are_ignored_during_cleanup():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with stop_on_terminate(), signals_deferred():
        os.kill(os.getpid(), signal.SIGTERM)  # ignored: no KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGINT)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
