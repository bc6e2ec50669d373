"""Raw datasets → the layouts recon3r's loaders read (`recon3r data co3d`, `recon3r data megascenes`).

Each preparer is a function of a typed config that shows progress, resumes (work already written
is skipped, never redone), and reports every frame or image it skipped, with the reason, on the
console and in a JSON file next to its output.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PrepareReport:
    """What a preparation run did: items written now, items found already written, items skipped (and why)."""

    written: int = 0
    resumed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append((item, reason))

    def summary(self, what: str) -> str:
        """One line of counts, then one line per skip reason with an example."""
        lines = [f"{what}: {self.written} written, {self.resumed} already there (resumed), {len(self.skipped)} skipped"]
        reasons = Counter(reason for _, reason in self.skipped)
        for reason, count in reasons.most_common():
            example = next(item for item, r in self.skipped if r == reason)
            lines.append(f"  skipped {count}: {reason} (e.g. {example})")
        return "\n".join(lines)

    def write_skipped(self, path: Path) -> None:
        write_json_atomic(path, [{"item": item, "reason": reason} for item, reason in self.skipped])


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON through a temporary file and a rename, so an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)
