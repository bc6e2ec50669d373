"""Point3R against the official code's outputs (golden fixtures), official key lists, release-layout .pth files.

Every case folder of $RECON3R_GOLDEN_POINT3R (default ../shared/golden_point3r) holds config.json,
model.safetensors (official names), inputs.npz and outputs.npz; each case is built through recon3r's
loader, streamed, and every output, the final pointer memory included, must agree within 1e-4.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from recon3r.errors import CheckpointError
from recon3r.geometry import pose_encoding_to_world_from_cam
from recon3r.models import load_model
from recon3r.models.checkpoint import config_from_json, read_safetensors_checkpoint
from recon3r.models.point3r import OFFICIAL_CONFIGS, Point3R
from recon3r.utils.spec import format_spec

GOLDEN = Path(os.environ.get("RECON3R_GOLDEN_POINT3R", "../shared/golden_point3r"))
CASES = sorted(p.parent for p in GOLDEN.glob("*/config.json")) if GOLDEN.is_dir() else []
KEY_FILES = {"point3r_224_dpt": "keys_official_224_dpt.txt", "point3r_512_dpt": "keys_official_512_dpt.txt"}
OUTPUT_KEYS = ("pts3d_in_self_view", "conf_self", "camera_pose", "pts3d_in_other_view", "conf")
TOL = 1e-4

needs_golden = pytest.mark.skipif(not CASES, reason=f"golden Point3R fixtures not found at {GOLDEN.resolve()}")


def views_of(case: Path) -> list[dict]:
    inputs = np.load(case / "inputs.npz")
    return [{"img": torch.from_numpy(inputs["img"][t]), "true_shape": torch.from_numpy(inputs["true_shape"][t]),
             "img_mask": torch.from_numpy(inputs["img_mask"][t])} for t in range(inputs["img"].shape[0])]


def max_errors(model: Point3R, case: Path) -> dict[str, float]:
    """Max abs error of every array of outputs.npz (memory counts must match exactly)."""
    expected = np.load(case / "outputs.npz")
    with torch.no_grad():
        results, state = model.stream(views_of(case))
    errors = {key: float(np.abs(torch.stack([r[key] for r in results]).numpy() - expected[key]).max())
              for key in OUTPUT_KEYS}
    c2w = pose_encoding_to_world_from_cam(torch.stack([r["camera_pose"] for r in results]))
    errors["camera_pose_c2w"] = float(np.abs(c2w.numpy() - expected["camera_pose_c2w"]).max())
    assert state.memory.counts == expected["memory_count"].tolist()
    for j in range(len(state.memory)):
        errors[f"memory_pos_b{j}"] = float(np.abs(state.memory.positions[j].numpy() - expected[f"memory_pos_b{j}"]).max())
        errors[f"memory_feat_b{j}"] = float(np.abs(state.memory.features[j].numpy() - expected[f"memory_feat_b{j}"]).max())
    assert set(errors) | {"memory_count"} == set(expected.files)
    return errors


@needs_golden
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_output_and_the_final_memory_match_the_official_code(case):
    torch.set_num_threads(1)
    model = load_model(case)
    assert type(model) is Point3R
    errors = max_errors(model, case)
    assert max(errors.values()) <= TOL, errors


@needs_golden
def test_float32_encoder_rope_is_a_different_model():
    """The official float16 encoder RoPE matters at 1e-4: the cleaner float32 flag moves the outputs."""
    case = CASES[0]
    name, kwargs, state_dict, _ = read_safetensors_checkpoint(case)
    model = Point3R(**kwargs, encoder_rope_float16=False).eval()
    model.load_state_dict(state_dict)
    errors = max_errors(model, case)
    assert max(errors[k] for k in OUTPUT_KEYS) > TOL


@needs_golden
def test_a_pth_in_the_release_layout_loads_and_reproduces_its_case(tmp_path):
    """{'model': state dict, 'args': Namespace(model='Point3R(Point3RConfig(...))'), ...}, in the training layout."""
    case = next((c for c in CASES if "portrait" in c.name), CASES[0])
    _, kwargs, state_dict, _ = read_safetensors_checkpoint(case)
    training = dict(kwargs, patch_embed_cls="ManyAR_PatchEmbed", landscape_only=True)
    ctor = "Point3R(Point3RConfig(" + format_spec("X", training)[2:-1] + "))"
    release = dict(state_dict)  # the release holds every key, the aliased DPT weights under both names
    path = tmp_path / "point3r_512.pth"
    torch.save({"model": release, "args": argparse.Namespace(model=ctor, lr=5e-6, epochs=10), "epoch": 9}, path)
    model = load_model(path)
    assert model.config["patch_embed_cls"] == "PatchEmbedDust3R" and model.config["landscape_only"] is False
    errors = max_errors(model, case)
    assert max(errors.values()) <= TOL, errors
    # The same file with its args as a plain dict, and without any args (the model named by the caller).
    torch.save({"model": release, "args": {"model": ctor}}, tmp_path / "dict.pth")
    assert max(max_errors(load_model(tmp_path / "dict.pth"), case).values()) <= TOL
    torch.save({"model": release}, tmp_path / "bare.pth")
    assert max(max_errors(load_model(tmp_path / "bare.pth", model=ctor), case).values()) <= TOL
    with pytest.raises(CheckpointError, match="released configuration"):  # tiny weights, official default
        load_model(tmp_path / "bare.pth")


@needs_golden
def test_dust3r_style_initialisation_copies_missing_memory_blocks_and_point_embedding(tmp_path):
    case = CASES[0]
    _, kwargs, state_dict, _ = read_safetensors_checkpoint(case)
    partial = {k: v for k, v in state_dict.items() if not k.startswith(("dec_blocks_memory.", "pts_patch_embed."))}
    model = Point3R(**kwargs)
    model.load_state_dict(partial)
    loaded = model.state_dict()
    torch.testing.assert_close(loaded["dec_blocks_memory.0.attn.qkv.weight"], state_dict["dec_blocks.0.attn.qkv.weight"])
    torch.testing.assert_close(loaded["pts_patch_embed.proj.weight"], state_dict["patch_embed.proj.weight"])


@needs_golden
def test_convert_writes_safetensors_that_reload_identically(tmp_path):
    from recon3r.cli import main

    case = CASES[0]
    _, kwargs, state_dict, _ = read_safetensors_checkpoint(case)
    ctor = "Point3R(Point3RConfig(" + format_spec("X", kwargs)[2:-1] + "))"
    torch.save({"model": state_dict, "args": argparse.Namespace(model=ctor)}, tmp_path / "ckpt.pth")
    assert main(["convert", str(tmp_path / "ckpt.pth"), str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / "config.json").read_text())["class"] == "Point3R"
    assert max(max_errors(load_model(tmp_path / "out"), case).values()) <= TOL


@pytest.mark.parametrize("name", sorted(KEY_FILES))
def test_official_configuration_builds_on_meta_with_the_official_names_and_shapes(name):
    path = GOLDEN / KEY_FILES[name]
    if not path.is_file():
        pytest.skip(f"official key list not found at {path.resolve()}")
    lines = path.read_text().splitlines()
    kwargs_line = next(line for line in lines if line.startswith("# kwargs:"))
    _, kwargs = config_from_json({"class": "Point3R", "kwargs": json.loads(kwargs_line[len("# kwargs:"):])})
    expected = [(k, json.loads(shape)) for k, shape in (line.split("\t") for line in lines if line and line[0] != "#")]
    for config in (kwargs, OFFICIAL_CONFIGS[name]):
        with torch.device("meta"):
            model = Point3R(**config)
        assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == expected
        assert sum(p.numel() for p in model.parameters()) == 828_014_991
