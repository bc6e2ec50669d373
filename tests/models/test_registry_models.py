"""Every registered model, built in its tiny configuration (after timm's registry-wide model tests).

For each name in `recon3r.models.registry.list_models()`:
- the class declares `task_name` (one of `KNOWN_TASKS`) and `tiny_config`, plain JSON;
- the model built from that JSON runs its example (`EXAMPLES`) with finite outputs;
- one backward pass reaches every trainable parameter, but those in `NO_GRADIENT` (by design);
- a safetensors round trip (`save_model` / `load_model`) gives the same state dict, exactly, and
  the same outputs within 1e-6 (two models are never compared bit-exact: equal weights may take
  other CPU kernels).

A newly registered model fails here until `EXAMPLES` says how to feed it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import torch
from torch import nn

from recon3r.models import build_model, get_model_class, list_models, load_model, save_model
from recon3r.models.checkpoint import config_to_json

#: The tasks of the shared trainer and evaluator (the preamble's `task_name` values).
KNOWN_TASKS = {"pair", "stream", "single_image", "depth_to_3d"}
MODEL_NAMES = list_models()
OUTPUT_TOL = 1e-6


# ---------------------------------------------------------------- example inputs, one per class
@dataclasses.dataclass(frozen=True)
class Example:
    """How to drive one model class: `inputs()` (seeded, small), `run(model, inputs)` → outputs.

    `run` defaults to `model(*inputs)`; it also calls the parts that `forward` leaves to the caller
    (a renderer, say), so that the backward check sees every parameter the model trains.
    `open_gates(model)`, optional, gives weights that start at exactly zero by design (gates that
    keep a new branch silent at initialisation) the random values a first training step would, so
    that the branch they close takes part in the forward and backward checks.
    """

    inputs: Callable[[], tuple]
    run: Callable[[nn.Module, tuple], Any] = lambda model, inputs: model(*inputs)
    open_gates: Callable[[nn.Module], None] | None = None


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _pair_views(captions: bool = False) -> tuple[dict, dict]:
    g = _generator()
    view1 = {"img": torch.rand(2, 3, 32, 48, generator=g) * 2 - 1}
    view2 = {"img": torch.rand(2, 3, 32, 48, generator=g) * 2 - 1}
    if captions:  # one missing caption: both the caption path and the null token are used
        view1["caption"] = ["FocalLength: 24.0 mm, FNumber: 2.8", ""]
        view2["caption"] = ["a red chair in a white room", "ISOSpeedRatings: 100"]
    return view1, view2


def _depth_cloud() -> tuple[torch.Tensor]:
    points = torch.randn(2, 64, 3, generator=_generator()) * 0.5
    return (points + torch.tensor([0.0, 0.0, 1.0]),)


def _lrm_inputs() -> tuple:
    """One 28-px image seen by the canonical source camera, rendered from 2 orbit views (6×6 regions)."""
    from recon3r.geometry.cameras import opencv_opengl_pose, orbit_poses
    from recon3r.models.lrm import normalized_intrinsics, render_camera_vector, source_camera_vector

    g = _generator()
    image = torch.rand(1, 3, 28, 28, generator=g)
    k = normalized_intrinsics(torch.tensor([[[0.75, 0.75], [0.5, 0.5], [1.0, 1.0]]]))
    source = source_camera_vector(torch.tensor([[[1.0, 0, 0, 0], [0, 0, -1, -2.0], [0, 1, 0, 0]]]), k)
    poses = opencv_opengl_pose(orbit_poses(2, 2.0, 0.8))[None]
    render = render_camera_vector(poses, k[:, None].expand(1, 2, 3, 3))
    return (image, source, render, torch.zeros(1, 2, 2), torch.full((1, 2, 1), 6.0), torch.ones(1, 2, 1), 6)


def _seeded_run(model: nn.Module, inputs: tuple) -> Any:
    """`model(*inputs)` with torch's generator seeded: the renderer draws its sample jitter from it."""
    torch.manual_seed(0)
    return model(*inputs)


def _open_caption_gates(model: nn.Module) -> None:
    """The caption gates / FiLM layers start at zero (the pair model exactly): give them random values."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(("caption_gates", "caption_film")):
                param.copy_(torch.randn(param.shape, generator=g) * 0.5)


def _stream_views() -> tuple[list[dict]]:
    """Three 32×48 frames of one stream (the official list of per-frame view dicts)."""
    g = _generator()
    return ([{"img": torch.rand(1, 3, 32, 48, generator=g) * 2 - 1, "true_shape": torch.tensor([[32, 48]])}
             for _ in range(3)],)


EXAMPLES: dict[str, Example] = {
    "AsymmetricCroCo3DStereo": Example(_pair_views),
    "AsymmetricCroCo3DStereoAndText": Example(lambda: _pair_views(captions=True), open_gates=_open_caption_gates),
    "Depth3DModel": Example(_depth_cloud),
    "ModelLRM": Example(_lrm_inputs, _seeded_run),
    "Point3R": Example(_stream_views),
}

#: Parameters that by design receive no gradient from any input, with the reason (a key ending in "."
#: covers every parameter under that prefix).
NO_GRADIENT: dict[str, dict[str, str]] = {
    "Point3R": {
        "dec_blocks_memory.1.": "the official decoder discards the memory stream's output: its last block never matters",
        "dec_norm_memory.": "the official decoder discards the memory stream's output",
        "downstream_head.dpt_self.scratch.refinenet4.resConfUnit1.": "DPT's deepest fusion block has no skip input",
        "downstream_head.dpt_cross.scratch.refinenet4.resConfUnit1.": "DPT's deepest fusion block has no skip input",
    },
    "AsymmetricCroCo3DStereo": {"mask_token": "CroCo's pre-training mask token, kept for official checkpoints"},
    "AsymmetricCroCo3DStereoAndText": {"mask_token": "CroCo's pre-training mask token, kept for official checkpoints"},
}


# ---------------------------------------------------------------- helpers
def _allowed(parameter: str, allowed: Mapping[str, str]) -> bool:
    return any(parameter == key or (key.endswith(".") and parameter.startswith(key)) for key in allowed)


def _example(name: str) -> Example:
    if name not in EXAMPLES:
        pytest.fail(f"{name} is registered but has no example input: add an entry to EXAMPLES in {__file__}")
    return EXAMPLES[name]


def _build(name: str, example: Example | None = None) -> nn.Module:
    """The model built from its class's `tiny_config` as read back from JSON (what a saved config gives),
    with the example's gates opened."""
    config = json.loads(json.dumps(get_model_class(name).tiny_config, allow_nan=False))
    torch.manual_seed(0)
    model = build_model(name, config)
    if example is not None and example.open_gates is not None:
        example.open_gates(model)
    return model


def _float_tensors(outputs: Any, path: str = "out") -> Iterator[tuple[str, torch.Tensor]]:
    """(path, tensor) for every floating tensor in nested tensors, mappings, sequences and dataclasses."""
    if isinstance(outputs, torch.Tensor):
        if outputs.is_floating_point():
            yield path, outputs
    elif isinstance(outputs, Mapping):
        for key, value in outputs.items():
            yield from _float_tensors(value, f"{path}[{key!r}]")
    elif isinstance(outputs, (list, tuple)):
        for k, value in enumerate(outputs):
            yield from _float_tensors(value, f"{path}[{k}]")
    elif dataclasses.is_dataclass(outputs) and not isinstance(outputs, type):
        for field in dataclasses.fields(outputs):
            yield from _float_tensors(getattr(outputs, field.name), f"{path}.{field.name}")


def _eval_outputs(model: nn.Module, example: Example, inputs: tuple) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        outputs = dict(_float_tensors(example.run(model.eval(), inputs)))
    assert outputs, "the example produced no floating-point output"
    return outputs


# ---------------------------------------------------------------- tests
def test_every_registered_model_has_an_example_and_no_example_is_stale():
    assert sorted(set(MODEL_NAMES) - set(EXAMPLES)) == [], "registered models without an entry in EXAMPLES"
    assert sorted(set(EXAMPLES) - set(MODEL_NAMES)) == [], "EXAMPLES entries for names that are not registered"
    assert set(NO_GRADIENT) <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_class_declares_its_task_and_a_json_tiny_config(name):
    cls = get_model_class(name)
    assert getattr(cls, "task_name", None) in KNOWN_TASKS, f"{name}.task_name must be one of {sorted(KNOWN_TASKS)}"
    tiny = getattr(cls, "tiny_config", None)
    assert isinstance(tiny, dict), f"{name} needs a `tiny_config` dict class attribute"
    json.dumps(tiny, allow_nan=False)  # plain JSON: no tuples-only types, no infinities
    model = _build(name)
    assert json.loads(json.dumps(config_to_json(name, model.config))) == config_to_json(name, model.config)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_outputs_are_finite(name):
    example = _example(name)
    outputs = _eval_outputs(_build(name, example), example, example.inputs())
    bad = [path for path, tensor in outputs.items() if not torch.isfinite(tensor).all()]
    assert bad == [], f"non-finite outputs: {bad}"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_backward_reaches_every_trainable_parameter(name):
    example = _example(name)
    model = _build(name, example).train()
    torch.manual_seed(0)  # training-mode randomness (caption dropout, text-encoder dropout)
    outputs = list(_float_tensors(example.run(model, example.inputs())))
    # A fixed random weighting of every output: no parameter can hide behind a symmetric loss.
    g = _generator()
    loss = sum((t * torch.randn(t.shape, generator=g)).mean() for _, t in outputs if t.requires_grad)
    loss.backward()
    allowed = NO_GRADIENT.get(name, {})
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, f"{name} has no trainable parameters"
    unreached = sorted(n for n, p in trainable.items() if not _allowed(n, allowed) and (p.grad is None or not p.grad.any()))
    assert unreached == [], f"no gradient reaches {unreached}"
    non_finite = sorted(n for n, p in trainable.items() if p.grad is not None and not torch.isfinite(p.grad).all())
    assert non_finite == [], f"non-finite gradients in {non_finite}"
    covered = {key: [n for n in trainable if _allowed(n, {key: ""})] for key in allowed}
    stale = sorted(key for key, names in covered.items()
                   if not names or any(trainable[n].grad is not None and trainable[n].grad.any() for n in names))
    assert stale == [], f"NO_GRADIENT entries that do get a gradient or do not exist: {stale}"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_safetensors_round_trip_keeps_weights_exactly_and_outputs_within_tolerance(name, tmp_path):
    example = _example(name)
    model = _build(name, example).eval()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and not loaded.training
    assert config_to_json(name, loaded.config) == config_to_json(name, model.config)
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert list(theirs) == list(ours)
    for key, value in ours.items():
        assert theirs[key].dtype == value.dtype and torch.equal(theirs[key], value), key
    inputs = example.inputs()
    expected, got = _eval_outputs(model, example, inputs), _eval_outputs(loaded, example, inputs)
    assert list(got) == list(expected)
    for path, value in expected.items():
        torch.testing.assert_close(got[path], value, rtol=OUTPUT_TOL, atol=OUTPUT_TOL, msg=lambda m, p=path: f"{p}: {m}")
