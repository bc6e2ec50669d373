"""ModelLRM reproduces the official OpenLRM code on every golden case (float32, CPU, max abs ≤ 1e-4).

The cases live in the folder named by RECON3R_GOLDEN_LRM (default ../shared/golden_lrm from the
repository root): each `*/config.json` holds the kwargs and encoder architecture, the weights under
the official names, the inputs (with the renderer's random draws) and every output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from recon3r.lrm.preprocess import model_input
from recon3r.models.lrm import ModelLRM

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / os.environ.get("RECON3R_GOLDEN_LRM", "../shared/golden_lrm")  # an absolute path replaces ROOT
CASES = sorted(p.parent.name for p in GOLDEN.glob("*/config.json"))
TOLERANCE = 1e-4


def _case_params():
    if not CASES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no golden LRM cases under {GOLDEN}"))]
    return CASES


def _load_case(name: str):
    from safetensors.torch import load_file

    folder = GOLDEN / name
    config = json.loads((folder / "config.json").read_text())
    model = ModelLRM(**config["kwargs"], encoder_arch=config["encoder_arch"]).eval()
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    inputs = dict(np.load(folder / "inputs.npz"))
    return model, inputs, dict(np.load(folder / "outputs.npz")), dict(np.load(folder / "encoder_out.npz"))


def _assert_close(name: str, ours: torch.Tensor, reference: np.ndarray) -> None:
    ours = ours.detach().numpy()
    assert ours.shape == reference.shape, f"{name}: shape {ours.shape} vs {reference.shape}"
    error = float(np.abs(ours - reference).max()) if ours.size else 0.0
    assert error <= TOLERANCE, f"{name}: max abs error {error:.3g} > {TOLERANCE}"


@pytest.mark.parametrize("case", _case_params())
@torch.no_grad()
def test_every_output_matches_the_reference(case):
    model, inputs, outputs, encoder_out = _load_case(case)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    features = model.encoder.model.forward_features(t["image"])
    tokens = model.encoder(t["image"])
    camera_embedding = model.camera_embedder(t["source_camera"])
    transformer_tokens = model.forward_transformer(tokens, camera_embedding)
    planes = model.reshape_upsample(transformer_tokens)
    region = int(t["render_region_size"])
    rendered = model.synthesizer(planes, t["render_cameras"], t["render_anchors"], t["render_resolutions"],
                                 t["render_bg_colors"], region, stratified_noise=t["stratified_noise"],
                                 importance_noise=t["importance_noise"], return_samples=True)
    points = model.synthesizer.forward_points(planes, t["query_points"])
    grid = model.synthesizer.forward_grid(planes, int(t["grid_size"]))
    ours = {"planes": planes, "camera_embedding": camera_embedding, "transformer_tokens": transformer_tokens,
            "points_sigma": points["sigma"], "points_rgb": points["rgb"], "grid_sigma": grid["sigma"],
            "grid_rgb": grid["rgb"], **rendered}
    assert set(outputs) <= set(ours), f"outputs not produced: {sorted(set(outputs) - set(ours))}"
    for name, reference in outputs.items():
        _assert_close(name, ours[name], reference)
    ours_encoder = {"tokens": tokens, "x_norm_regtokens": features["x_norm_regtokens"],
                    "x_prenorm": features["x_prenorm"], "pos_embed_used": features["pos_embed"]}
    assert set(encoder_out) <= set(ours_encoder), f"encoder outputs not produced: {sorted(set(encoder_out) - set(ours_encoder))}"
    for name, reference in encoder_out.items():
        _assert_close(f"encoder {name}", ours_encoder[name], reference)


@pytest.mark.parametrize("case", _case_params())
@torch.no_grad()
def test_full_forward_and_preprocessing_match_the_reference(case):
    model, inputs, outputs, _ = _load_case(case)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    size = inputs["image"].shape[-1]
    raws = sorted(k for k in inputs if k.startswith("raw_image_"))
    assert len(raws) == len(inputs["image"])
    for key in raws:
        index = int(key.rsplit("_", 1)[1])
        _assert_close(f"image[{index}] from {key}", model_input(inputs[key], size)[0], inputs["image"][index])
    out = model(t["image"], t["source_camera"], t["render_cameras"], t["render_anchors"], t["render_resolutions"],
                t["render_bg_colors"], int(t["render_region_size"]), stratified_noise=t["stratified_noise"],
                importance_noise=t["importance_noise"])
    assert sorted(out) == ["images_depth", "images_rgb", "images_weight", "planes"]
    for name in out:
        _assert_close(name, out[name], outputs[name])
