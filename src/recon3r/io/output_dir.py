"""Where commands write: one policy for every output folder and output file, checked before any compute.

A command's output path must be:
- given (not ""), and a folder for folder outputs (`check_output_dir`) or a file for file outputs
  (`check_output_file`), inside a folder this process can write in;
- none of the command's inputs, with no input inside it (so originals are never overwritten);
- missing or empty, or written by recon3r before (a `.recon3r-output.json` marker naming the
  command) and `overwrite` given. Files added to such a folder by hand block the overwrite.

Results are written into a hidden temporary sibling (`.NAME.recon3r-staging-PID-XXXX`) and moved into
place in one rename when complete (Linux: `renameat2(RENAME_EXCHANGE)`; elsewhere the previous folder
is parked as `.NAME.recon3r-previous-PID` for the instant between two renames, and restored by the
next run should the process die there). The old folder is kept until the new one is complete, so a
killed run leaves the old folder or the new one, never a mix. Siblings left by dead processes are
removed by the next run on the same path. Output files are written to a temporary name and renamed.

Folders that a command fills in place and resumes (`prepare_resumable_dir`, e.g. `recon3r data depth3d`)
are marked when created; a rerun on a folder that command marked resumes it.

Training folders resume instead of being replaced: `prepare_training_dir` accepts a missing or empty
folder, or one recon3r training wrote before, and refuses any other non-empty folder.

Test hook (tests only): with `RECON3R_TEST_HOLD_BEFORE_COMMIT=FILE` set, a staged folder is complete,
FILE is created, and the process sleeps for up to 60 s before moving it into place, so a test can
kill it at that point.

This module uses the standard library only: commands call it before importing anything heavy.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from recon3r.errors import OutputError

MARKER_NAME = ".recon3r-output.json"
TRAINING_COMMAND = "train"
#: Files operating systems drop into folders; they do not make a folder "not empty".
IGNORED_ENTRIES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
#: What a recon3r training folder holds (`recon3r.train`), for folders written before the marker existed.
TRAINING_ENTRIES = ("checkpoint-last", ".checkpoint-last.old", "metrics.csv")
OVERWRITE_HELP = "replace an output that recon3r wrote before (it is kept until the new one is complete)"
HOLD_ENV = "RECON3R_TEST_HOLD_BEFORE_COMMIT"

PathLike = str | os.PathLike


@dataclass(frozen=True)
class OutputDir:
    """A checked output folder: write into `staged()`, which moves the result into `path` when complete."""

    path: Path  # absolute, symlinks resolved
    command: str  # the recon3r command writing it, recorded in the marker
    overwrite: bool
    flag: str = "--out"
    legacy: Callable[[Path], bool] | None = None  # recognises a recon3r output written before markers

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """Yield an empty temporary sibling folder; on success it replaces `path`, on error it is removed."""
        staging = self.begin()
        try:
            yield staging
            self.commit(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def begin(self) -> Path:
        """A new empty temporary sibling folder to write into; `commit` it when complete. (`staged` does
        both; a staging folder left by an error is removed by the next run once this process is gone.)"""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.recon3r-staging-{os.getpid()}-",
                                        dir=self.path.parent))
        os.chmod(staging, _usual_mode(0o777))  # mkdtemp makes it private; results get the usual permissions
        return staging

    def commit(self, staging: Path) -> Path:
        """Move the complete `staging` folder into place (see the module docstring); returns `path`."""
        self._commit(Path(staging))
        return self.path

    def relocate(self, staged_path: PathLike, staging: PathLike) -> Path:
        """Where a file written under `staging` lives once the folder is in place."""
        return self.path / Path(staged_path).relative_to(staging)

    def _commit(self, staging: Path) -> None:
        # The folder may have changed during the compute: check it again before replacing anything.
        _check_replaceable(self.path, self.command, self.overwrite, self.flag, self.legacy)
        entries = sorted(os.listdir(staging))
        _write_marker(staging, self.command, entries)
        _hold_for_tests()
        if not self.path.exists():
            os.rename(staging, self.path)
            return
        if _exchange(staging, self.path):
            shutil.rmtree(staging, ignore_errors=True)  # now the previous folder
            return
        parked = self.path.parent / f".{self.path.name}.recon3r-previous-{os.getpid()}"
        os.rename(self.path, parked)
        os.rename(staging, self.path)
        shutil.rmtree(parked, ignore_errors=True)


def check_output_dir(path: PathLike | None, command: str, *, inputs: Iterable[PathLike | None] = (),
                     overwrite: bool = False, flag: str = "--out",
                     legacy: Callable[[Path], bool] | None = None) -> OutputDir:
    """Check an output folder before any compute (see the module docstring); raises OutputError naming it.

    `inputs`: every file or folder the command reads (None entries are skipped). `legacy`: a test
    that recognises what this command wrote before the marker existed (such a folder counts as
    written by recon3r).
    """
    final = _resolve(path, flag)
    _cleanup_siblings(final)
    if final.exists() and not final.is_dir():
        raise OutputError(f"{flag} {path} is a file, not a folder; give a folder path")
    _check_parent_writable(final, path, flag)
    _check_not_input(final, path, inputs, flag)
    _check_replaceable(final, command, overwrite, flag, legacy)
    return OutputDir(final, command, bool(overwrite), flag, legacy)


def check_output_file(path: PathLike | None, *, inputs: Iterable[PathLike | None] = (), overwrite: bool = False,
                      flag: str = "--out", suffixes: tuple[str, ...] = ()) -> Path:
    """Check an output file before any compute; returns its absolute path. Raises OutputError naming it.

    The file must not be a folder or an input, its folder must be writable, `suffixes` (lower case,
    with the dot) lists the accepted extensions, and an existing file is replaced only with `overwrite`.
    Write it with `atomic_write`.
    """
    final = _resolve(path, flag)
    _cleanup_siblings(final)
    if final.is_dir():
        raise OutputError(f"{flag} {path} is a folder; give a file path")
    if suffixes and final.suffix.lower() not in suffixes:
        raise OutputError(f"{flag} {path} must end in {' or '.join(suffixes)}")
    _check_parent_writable(final, path, flag)
    _check_not_input(final, path, inputs, flag)
    if final.exists() and not overwrite:
        raise OutputError(f"{flag} {path} already exists; pass --overwrite to replace it")
    return final


@contextlib.contextmanager
def atomic_write(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; when the block succeeds it is renamed onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.recon3r-tmp-{os.getpid()}-", suffix=path.suffix,
                                    dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, _usual_mode(0o666))
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def prepare_training_dir(path: PathLike | None, *, inputs: Iterable[PathLike | None] = (),
                         flag: str = "--output_dir") -> Path:
    """Check a training output folder, and mark it as a recon3r training run (first process only).

    A missing or empty folder starts a run; a folder recon3r training wrote before is resumed (the
    trainer picks up `checkpoint-last`); any other non-empty folder, or one another command wrote,
    is refused. Under torchrun only rank 0 checks and writes the marker (the others would race it).
    """
    final = _resolve(path, flag)
    if os.environ.get("RANK", "0") != "0":
        return final
    if final.exists() and not final.is_dir():
        raise OutputError(f"{flag} {path} is a file, not a folder; give a folder path")
    _check_parent_writable(final, path, flag)
    _check_not_input(final, path, inputs, flag)
    marker = read_marker(final)
    if marker is not None and marker.get("command") != TRAINING_COMMAND:
        raise OutputError(f"{flag} {path} holds the output of `recon3r {marker.get('command')}`, not a training run; "
                          "choose another folder")
    foreign = _entries(final)
    if marker is None and foreign and not any((final / name).exists() for name in TRAINING_ENTRIES):
        raise OutputError(f"{flag} {path} is not empty and is not a recon3r training folder "
                          f"(it holds {_preview(foreign)}); choose an empty or new folder "
                          "(a recon3r training folder is resumed from its checkpoint-last)")
    if marker is None:
        final.mkdir(parents=True, exist_ok=True)
        _write_marker(final, TRAINING_COMMAND, None)
    return final


def prepare_resumable_dir(path: PathLike | None, command: str, *, inputs: Iterable[PathLike | None] = (),
                          flag: str = "--out") -> tuple[Path, bool]:
    """Check a folder that `command` writes in place and resumes: (absolute path, resumed).

    A missing or empty folder is created and marked as `command`'s (resumed False); a folder that
    `command` marked before is resumed (True; the command skips what is already there); any other
    non-empty folder, or another command's, is refused. For a fresh start over an earlier result,
    use `check_output_dir(..., overwrite=True)` and its `staged()` instead.
    """
    final = _resolve(path, flag)
    _cleanup_siblings(final)
    if final.exists() and not final.is_dir():
        raise OutputError(f"{flag} {path} is a file, not a folder; give a folder path")
    _check_parent_writable(final, path, flag)
    _check_not_input(final, path, inputs, flag)
    marker = read_marker(final)
    if marker is not None:
        if marker.get("command") != command:
            raise OutputError(f"{flag} {final} holds the output of `recon3r {marker.get('command')}`; "
                              f"choose another folder for `recon3r {command}`")
        return final, True
    entries = _entries(final)
    if entries:
        raise OutputError(f"{flag} {final} is not empty and was not written by recon3r (it holds "
                          f"{_preview(entries)}); choose an empty or new folder")
    final.mkdir(parents=True, exist_ok=True)
    _write_marker(final, command, None)
    return final, False


def read_marker(folder: PathLike) -> dict | None:
    """The marker recon3r left in `folder`, or None when there is none (or it is not recon3r's)."""
    try:
        data = json.loads((Path(folder) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("written_by") == "recon3r" else None


def inputs_of(*groups: Iterable[PathLike | None] | PathLike | None) -> list[Path]:
    """Flatten paths and lists of paths (None skipped) into one list, for the `inputs` arguments."""
    out: list[Path] = []
    for group in groups:
        if group is None:
            continue
        items = [group] if isinstance(group, (str, os.PathLike)) else list(group)
        out += [Path(item) for item in items if item is not None and str(item) != ""]
    return out


# ---------------------------------------------------------------- checks
def _resolve(path: PathLike | None, flag: str) -> Path:
    text = "" if path is None else os.fspath(path)
    if not str(text).strip():
        raise OutputError(f"{flag} is empty; give the path to write to")
    if "\x00" in str(text):
        raise OutputError(f"{flag} {text!r} contains a NUL character")
    return Path(os.path.realpath(text))


def _check_parent_writable(final: Path, given: PathLike | None, flag: str) -> None:
    """The nearest existing ancestor of `final`'s parent must be a folder we can create entries in."""
    ancestor = final.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{flag} {given}: {ancestor} is a file, so no folder can be made below it")
    try:
        probe = tempfile.mkdtemp(prefix=".recon3r-probe-", dir=ancestor)
    except OSError as err:
        raise OutputError(f"{flag} {given}: cannot write in {ancestor} ({err.strerror or err})") from None
    os.rmdir(probe)


def _check_not_input(final: Path, given: PathLike | None, inputs: Iterable[PathLike | None], flag: str) -> None:
    for item in inputs:
        if item is None or str(item) == "":
            continue
        source = Path(os.path.realpath(item))
        if source == final:
            raise OutputError(f"{flag} {given} is also an input ({item}); write the results somewhere else")
        if final in source.parents:
            raise OutputError(f"{flag} {given} holds an input ({item}); recon3r never writes over its inputs: "
                              "choose an output folder outside the input folders")


def _check_replaceable(final: Path, command: str, overwrite: bool, flag: str,
                       legacy: Callable[[Path], bool] | None) -> None:
    """A missing or empty folder, or recon3r's earlier output of `command` when `overwrite` is given."""
    entries = _entries(final)
    if not entries:
        return
    marker = read_marker(final)
    if marker is None and legacy is not None and legacy(final):
        marker = {"command": command, "entries": None}
    if marker is None:
        raise OutputError(f"{flag} {final} is not empty and was not written by recon3r (it holds "
                          f"{_preview(entries)}); choose an empty or new folder")
    if marker.get("command") != command:
        raise OutputError(f"{flag} {final} holds the output of `recon3r {marker.get('command')}`; "
                          f"choose another folder for `recon3r {command}`")
    written = marker.get("entries")
    if isinstance(written, list):
        extra = sorted(set(entries) - set(written) - {MARKER_NAME})
        if extra:
            raise OutputError(f"{flag} {final} holds files recon3r did not write ({_preview(extra)}); move them "
                              "away or choose another folder")
    if not overwrite:
        when = f", written {marker['time']}" if isinstance(marker.get("time"), str) else ""
        raise OutputError(f"{flag} {final} already holds a `recon3r {command}` result{when}; "
                          "pass --overwrite to replace it")


def _entries(folder: Path) -> list[str]:
    try:
        return sorted(e for e in os.listdir(folder) if e not in IGNORED_ENTRIES)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return [folder.name]


def _preview(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# ---------------------------------------------------------------- marker, swap, leftovers
def _write_marker(folder: Path, command: str, entries: list[str] | None) -> None:
    from recon3r import __version__

    marker = {"written_by": "recon3r", "version": __version__, "command": command,
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "entries": entries}
    with atomic_write(folder / MARKER_NAME) as temporary:
        temporary.write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def _usual_mode(mode: int) -> int:
    """`mode` less the process umask: the permissions `mkdir` / `open` would have given."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EPERM):
        return False  # an old kernel or a file system without the flag: fall back to two renames
    raise OSError(code, os.strerror(code), str(b))


def _cleanup_siblings(final: Path) -> None:
    """Remove what killed runs left next to `final`; restore a parked previous folder if `final` is gone."""
    parent = final.parent
    if not parent.is_dir():
        return
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.recon3r-(staging|previous|tmp)-(\d+)-?")
    for entry in sorted(os.listdir(parent)):
        match = pattern.match(entry)
        if not match or _alive(int(match.group(2))):
            continue
        leftover = parent / entry
        if match.group(1) == "previous" and not final.exists():
            os.rename(leftover, final)
        elif leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                leftover.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _hold_for_tests() -> None:
    signal_file = os.environ.get(HOLD_ENV)
    if signal_file:
        Path(signal_file).write_text(str(os.getpid()))
        time.sleep(60)
