"""The public API is recorded in tests/public_api.txt: removing, renaming or adding a name fails here.

The surface is, for `recon3r` and every one of its packages (found by walking the source tree):
the names it exports (`__all__`, or else the public names its `__init__` defines) and its public
submodules. Leading-underscore names and modules are private. Only the packages are imported
(what `import recon3r.<pkg>` does), so the test stays cheap.

A deliberate change is recorded by regenerating the snapshot and committing its diff:
    RECON3R_UPDATE_API_SNAPSHOT=1 python -m pytest tests/test_public_api.py
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from types import ModuleType

import recon3r

SNAPSHOT = Path(__file__).with_name("public_api.txt")
UPDATE_ENV = "RECON3R_UPDATE_API_SNAPSHOT"
UPDATE_COMMAND = f"{UPDATE_ENV}=1 python -m pytest tests/test_public_api.py"
HEADER = (
    "# The public API of recon3r, one dotted name a line (tests/test_public_api.py checks it).\n"
    f"# Regenerate after a deliberate change, then review and commit the diff: {UPDATE_COMMAND}\n"
)


def _is_private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def public_packages() -> list[ModuleType]:
    """`recon3r` and every public package under it, imported."""
    packages = [recon3r]
    for info in pkgutil.walk_packages(recon3r.__path__, prefix="recon3r.", onerror=_raise):
        if info.ispkg and not _is_private(info.name):
            packages.append(importlib.import_module(info.name))
    return packages


def _raise(name: str) -> None:
    raise ImportError(f"cannot import {name} while listing the public API")


def exported_names(package: ModuleType) -> list[str]:
    """`__all__`, or the public names the package's `__init__` defines itself (not what it imports)."""
    if hasattr(package, "__all__"):
        return list(package.__all__)
    return [
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", package.__name__) == package.__name__
    ]


def public_api() -> set[str]:
    """Every public dotted name: package exports and public submodules."""
    names: set[str] = set()
    for package in public_packages():
        names.update(f"{package.__name__}.{name}" for name in exported_names(package))
        names.update(
            f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")
        )
    return names


def _read_snapshot() -> set[str]:
    if not SNAPSHOT.is_file():
        return set()
    return {line.strip() for line in SNAPSHOT.read_text().splitlines() if line.strip() and not line.startswith("#")}


def test_public_api_matches_the_snapshot():
    current = public_api()
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(HEADER + "".join(f"{name}\n" for name in sorted(current)))
        return
    recorded = _read_snapshot()
    removed, added = sorted(recorded - current), sorted(current - recorded)
    message = []
    if removed:
        message.append(
            f"{len(removed)} public name(s) disappeared (users' imports of them break):\n  " + "\n  ".join(removed)
            + "\nIf that is deliberate (a rename or a removal), record it; otherwise restore them."
        )
    if added:
        message.append(
            f"{len(added)} public name(s) are new:\n  " + "\n  ".join(added)
            + "\nIf they are meant to be public, record them; otherwise give them a leading underscore."
        )
    message.append(f"To record the current API in {SNAPSHOT.name}: {UPDATE_COMMAND} (then review the diff)")
    assert not removed and not added, "\n".join(message)


def test_every_exported_name_resolves():
    """`__all__` entries (lazy ones included) exist, so `from recon3r.<pkg> import *` works."""
    missing = [
        f"{package.__name__}.{name}"
        for package in public_packages()
        for name in getattr(package, "__all__", [])
        if not hasattr(package, name)
    ]
    assert missing == []
