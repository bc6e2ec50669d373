from __future__ import annotations

import pytest

from recon3r.data.procedural import write_procedural

# One tiny on-disk procedural dataset shared by the loader tests (test_multiview.py repeats these values).
TINY = {"scenes": 2, "views": 3, "size": 48, "seed": 7, "kind": "pairs"}


@pytest.fixture(scope="session")
def tiny_procedural(tmp_path_factory):
    root = tmp_path_factory.mktemp("procedural")
    write_procedural(root, TINY["scenes"], TINY["views"], size=TINY["size"], seed=TINY["seed"], kind=TINY["kind"])
    return root
