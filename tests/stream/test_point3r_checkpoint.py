"""Point3R .pth files whose training args are an OmegaConf DictConfig (hydra trainers), read without OmegaConf.

OmegaConf is not installed: the test pickles look-alike classes registered under OmegaConf's module
names, with the state layout OmegaConf pickles (containers: `_metadata`, `_parent`, `_content`;
nodes: `_metadata`, `_parent`, `_val`; dataclass metadata holding `typing.Any` and a defaultdict).
"""

import collections
import dataclasses
import os
import sys
import types
import typing

import pytest
import torch

from recon3r.errors import CheckpointError
from recon3r.models import load_model
from recon3r.models.point3r import Point3R
from recon3r.utils.spec import format_spec

TINY = dict(Point3R.tiny_config, landscape_only=True, patch_embed_cls="ManyAR_PatchEmbed")
CTOR = "Point3R(Point3RConfig(" + format_spec("X", TINY)[2:-1] + "))"


@pytest.fixture
def fake_omegaconf(monkeypatch):
    """Classes named like OmegaConf's (only while pickling), with OmegaConf's pickled state."""
    modules = {name: types.ModuleType(name) for name in
               ("omegaconf", "omegaconf.base", "omegaconf.nodes", "omegaconf.dictconfig", "omegaconf.listconfig")}
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)

    @dataclasses.dataclass
    class Metadata:
        ref_type: typing.Any
        object_type: typing.Any
        optional: bool
        key: typing.Any
        flags: dict | None = None
        flags_root: bool = False
        resolver_cache: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(dict))

    @dataclasses.dataclass
    class ContainerMetadata(Metadata):
        key_type: typing.Any = None
        element_type: typing.Any = None

    class Node:
        def __getstate__(self):
            return {k: v for k, v in self.__dict__.items() if k != "_flags_cache"}

    class AnyNode(Node):
        def __init__(self, value, parent, key):
            self._metadata, self._parent, self._val = Metadata(typing.Any, None, True, key), parent, value
            self._flags_cache = None

    class ListConfig(Node):
        def __init__(self, items, parent, key):
            self._metadata = ContainerMetadata(typing.Any, list, True, key, key_type=int, element_type=typing.Any)
            self._parent, self._content, self._flags_cache = parent, [AnyNode(v, self, i) for i, v in enumerate(items)], None

    class DictConfig(Node):
        def __init__(self, content, parent=None, key=None):
            self._metadata = ContainerMetadata(typing.Any, dict, True, key, {"struct": True}, key_type=typing.Any,
                                               element_type=typing.Any)
            self._parent, self._flags_cache = parent, None
            self._content = {k: (DictConfig(v, self, k) if isinstance(v, dict) else
                                 ListConfig(v, self, k) if isinstance(v, list) else AnyNode(v, self, k))
                             for k, v in content.items()}

    for cls, module in ((Metadata, "omegaconf.base"), (ContainerMetadata, "omegaconf.base"), (AnyNode, "omegaconf.nodes"),
                        (ListConfig, "omegaconf.listconfig"), (DictConfig, "omegaconf.dictconfig")):
        cls.__module__, cls.__qualname__ = module, cls.__name__
        setattr(modules[module], cls.__name__, cls)
    return DictConfig


def test_hydra_args_are_read_as_data_and_name_the_model(tmp_path, fake_omegaconf):
    torch.manual_seed(0)
    model = Point3R(**TINY).eval()
    args = fake_omegaconf({"model": CTOR, "lr": 5e-6, "train_dataset": "1000 @ Co3d(split='train')",
                           "data": {"resolution": [512, 384]}, "logdir": "/tmp/run"})
    path = tmp_path / "point3r_512.pth"
    torch.save({"model": model.state_dict(), "args": args, "epoch": 10}, path)
    for name in list(sys.modules):
        if name.startswith("omegaconf"):
            del sys.modules[name]  # loading must not need the classes
    loaded = load_model(path)
    assert type(loaded) is Point3R
    assert loaded.config["patch_embed_cls"] == "PatchEmbedDust3R" and loaded.config["landscape_only"] is False
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_inside_hydra_args_is_still_refused(tmp_path, fake_omegaconf):
    marker = tmp_path / "pwned"
    args = fake_omegaconf({"model": CTOR})
    args._content["model"]._val = _Evil(marker)
    path = tmp_path / "evil.pth"
    torch.save({"model": Point3R(**TINY).state_dict(), "args": args}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(path)
    assert not marker.exists()


def test_a_bare_state_dict_of_another_model_asks_for_the_model(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"model": {"enc_norm.weight": torch.ones(4)}}, path)
    with pytest.raises(CheckpointError, match="pass the model explicitly"):
        load_model(path)
