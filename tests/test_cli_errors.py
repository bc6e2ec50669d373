"""The CLI's last resort: an unexpected error is one line (exit 1), warnings are one line each."""

from __future__ import annotations

import warnings

import pytest

import recon3r.commands.convert as convert_command
from recon3r.cli import main


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    def broken(args):
        raise KeyError("the\nkey")

    monkeypatch.setattr(convert_command, "run", broken)
    monkeypatch.delenv("RECON3R_DEBUG", raising=False)
    assert main(["convert", "a.pth", "out"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: KeyError: ") and "RECON3R_DEBUG=1" in err
    monkeypatch.setenv("RECON3R_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["convert", "a.pth", "out"])


def test_operating_system_errors_are_user_errors(monkeypatch, capsys):
    def full_disk(args):
        raise OSError(28, "No space left on device", "out/points.ply")

    monkeypatch.setattr(convert_command, "run", full_disk)
    assert main(["convert", "a.pth", "out"]) == 2
    assert capsys.readouterr().err == "error: [Errno 28] No space left on device: 'out/points.ply'\n"


def test_warnings_of_a_command_are_one_line_each(monkeypatch, capsys):
    def warn(args):
        warnings.warn("similarity fit on 1 degenerate point set", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(convert_command, "run", warn)
    assert main(["convert", "a.pth", "out"]) == 0
    assert capsys.readouterr().err == "warning: similarity fit on 1 degenerate point set\n"


@pytest.mark.parametrize("command", [
    ["stream", "frames", "--weights", "w.pth", "--out", "o"],
    ["eval", "relpose", "--benchmark", "procedural:1", "--method", "example"],
])
@pytest.mark.parametrize("flag", ["--dtype", "--head-dtype"])
def test_float16_on_the_cpu_is_one_line_for_stream_and_eval(command, flag, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pth").write_bytes(b"")  # never read: the dtype is refused first
    assert main([*command, flag, "float16", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {flag} float16 needs an accelerator; on the CPU use {flag} bfloat16\n"
