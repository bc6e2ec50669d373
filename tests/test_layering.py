"""The package's layering: model code depends on no system, trainer or caption-writing package, and
the data package has no import cycle. Checked on the source (every import statement, at any depth).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "recon3r"
# Packages model code must not import: systems' pipelines, the trainer, caption writing.
OFF_LIMITS_FOR_MODELS = ("recon3r.stream", "recon3r.lrm", "recon3r.depth3d", "recon3r.train", "recon3r.text")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module `path` (a file under src/recon3r) imports."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return imports_in(path.read_text(), package, str(path))


def imports_in(source: str, package: str, filename: str = "<source>") -> set[str]:
    """Absolute names of every module `source` imports, at any depth; relative imports resolved against `package`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_model_code_imports_no_system_trainer_or_caption_package():
    offenders = []
    for path in sorted((SRC / "models").rglob("*.py")):
        for name in imported_modules(path):
            if any(name == bad or name.startswith(bad + ".") for bad in OFF_LIMITS_FOR_MODELS):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_data_package_has_no_import_cycle():
    modules = {module_name(p): p for p in (SRC / "data").rglob("*.py")}
    graph = {name: {m for m in imported_modules(path) if m in modules and m != name} for name, path in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [name, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_scan_sees_nested_and_relative_imports():
    """What the two tests above rely on: an import inside a function, and a relative one, are both seen."""
    source = "def f():\n    from recon3r.text import captions\n\nfrom ..train import trainer\n"
    found = imports_in(source, "recon3r.models.layers")
    assert "recon3r.text" in found
    assert "recon3r.models.train.trainer" in found  # `..` from recon3r.models.layers is recon3r.models
