"""Shared test settings and fixtures.

One torch thread keeps tiny-model tests fast and steady on small CI machines.

Reference data beside the repository (`../shared`: golden fixtures recorded from the reference
implementation, real photos) is reached only through `shared_path` (function and fixture) and the
`golden_case` parameter, so that a clone of the repository alone passes: tests that need a missing
`../shared/<set>` skip with a reason naming it. CI (`.ci/run`) refuses to start without them.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)

#: `../shared` seen from the repository root: read-only, never copied into the repository.
SHARED_ROOT = Path(__file__).resolve().parents[1].parent / "shared"
#: What each top-level set under ../shared holds (for skip reasons).
SHARED_SETS = {
    "golden": "reference fixtures",
    "golden_lrm": "reference fixtures",
    "golden_point3r": "reference fixtures",
    "data": "real photos and benchmark sets",
}


def shared_path(*parts: str) -> Path:
    """`../shared/<parts...>`; skips the calling test when the set `../shared/<parts[0]>` is absent.

    Only a missing set skips: inside a present set a missing file is a broken fixture and fails.
    """
    if not parts:
        raise ValueError("shared_path needs the set's name, e.g. shared_path('golden')")
    top = SHARED_ROOT / parts[0]
    if not top.is_dir():
        pytest.skip(f"needs ../shared/{parts[0]} ({SHARED_SETS.get(parts[0], 'reference data')} beside the repo)")
    return top.joinpath(*parts[1:])


@pytest.fixture(name="shared_path", scope="session")
def shared_path_fixture():
    """The `shared_path(*parts)` function, for test modules (which cannot import this conftest)."""
    return shared_path


def pytest_generate_tests(metafunc):
    """`golden_case`: one parameter per case folder in ../shared/golden (one skipped parameter without it)."""
    if "golden_case" not in metafunc.fixturenames:
        return
    golden = SHARED_ROOT / "golden"
    if golden.is_dir():
        cases = sorted(p.parent.name for p in golden.glob("*/config.json"))
    else:
        reason = f"needs ../shared/golden ({SHARED_SETS['golden']} beside the repo)"
        cases = [pytest.param("missing", marks=pytest.mark.skip(reason=reason))]
    metafunc.parametrize("golden_case", cases)


class Golden:
    """Lazy view of one golden .npz: `golden["key"]` is a torch tensor."""

    def __init__(self, path: Path):
        self._data = np.load(path)

    def __getitem__(self, key: str) -> torch.Tensor:
        return torch.from_numpy(np.array(self._data[key]))


@pytest.fixture(scope="session")
def golden_geometry() -> Golden:
    """The reference's geometry helpers on recorded inputs (../shared/golden/geometry.npz)."""
    return Golden(shared_path("golden", "geometry.npz"))


@pytest.fixture(scope="session")
def golden_more() -> Golden:
    """More recorded geometry, alignment and focal cases (../shared/golden/geometry_more.npz)."""
    return Golden(shared_path("golden", "geometry_more.npz"))

# A tiny pair model at the 224 inference layout: milliseconds per pair on a CPU.
TINY_PAIR_MODEL = dict(enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2,
                       img_size=(224, 224), head_type="linear", pos_embed="RoPE100", landscape_only=False)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A folder with model.safetensors + config.json of a tiny seeded random-weight pair model."""
    from recon3r.models import build_model, save_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_weights")
    save_model(build_model("AsymmetricCroCo3DStereo", TINY_PAIR_MODEL), folder)
    return folder


@pytest.fixture(scope="session")
def photo_paths(tmp_path_factory):
    """Three 400x300 PNGs of one random colour texture, shifted sideways (a camera pan)."""
    folder = tmp_path_factory.mktemp("photos")
    base = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    paths = []
    for k in range(3):
        path = folder / f"view_{k}.png"
        Image.fromarray(np.roll(base, 12 * k, axis=1)).save(path)
        paths.append(path)
    return paths
