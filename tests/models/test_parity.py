"""Parity with the reference DUSt3R on every golden case in ../shared/golden (1e-4 max abs, float32).

Encoder outputs and, where recorded, every decoder layer and RoPE position are compared too, so a
mismatch points at the stage that introduced it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import recon3r

TOL = 1e-4


def test_golden_fixtures_cover_both_heads_and_portraits(shared_path):
    golden = shared_path("golden")
    cases = sorted(p.parent.name for p in golden.glob("*/config.json"))
    assert len(cases) >= 13, f"expected the golden cases in {golden}, found {cases}"
    assert any(c.startswith("dpt") for c in cases) and any(c.startswith("linear") for c in cases)


def _max_err(ours: torch.Tensor, ref: np.ndarray, what: str) -> float:
    assert tuple(ours.shape) == ref.shape, f"{what}: shape {tuple(ours.shape)} vs reference {ref.shape}"
    return float(np.abs(ours.detach().numpy().astype(np.float64) - ref).max())


def _final_outputs(res1: dict, res2: dict) -> dict[str, torch.Tensor]:
    """The four recorded outputs, under the names of the golden `outputs.npz`."""
    return {
        "res1_pts3d": res1["pts3d"],
        "res1_conf": res1["conf"],
        "res2_pts3d_in_other_view": res2["pts3d_in_other_view"],
        "res2_conf": res2["conf"],
    }


def test_outputs_match_reference(golden_case, golden_views, shared_path):
    case = golden_case
    folder = shared_path("golden", case)
    model = recon3r.load_model(folder)
    view1, view2 = golden_views(folder / "inputs.npz")

    encoder_calls = []
    encode_image = model.encode_image

    def recording_encode_image(img, true_shape):
        out = encode_image(img, true_shape)
        encoder_calls.append(out[0])
        return out

    model.encode_image = recording_encode_image
    with torch.no_grad():
        enc = model.encode_pair(view1, view2)
        dec1, dec2 = model.decode(enc.feat1, enc.pos1, enc.feat2, enc.pos2)
        res1, res2 = model.heads(dec1, dec2, enc.shape1, enc.shape2)
        full1, full2 = model(view1, view2)

    enc_ref = np.load(folder / "encoder_out.npz")
    n_calls = len(encoder_calls) // 2  # the explicit stages above and model(...) each encode once
    for k, key in enumerate(sorted(enc_ref.files, key=lambda s: int(s.rsplit("_", 1)[1]))):
        err = _max_err(encoder_calls[k % n_calls], enc_ref[key], f"{case}/{key}")
        assert err <= TOL, f"{case}: encoder call {key} differs by {err:.3g}"

    if (folder / "decoder_out.npz").exists():
        dec_ref = np.load(folder / "decoder_out.npz")
        np.testing.assert_array_equal(enc.pos1.numpy(), dec_ref["pos1"], err_msg=f"{case}: RoPE positions of view 1")
        np.testing.assert_array_equal(enc.pos2.numpy(), dec_ref["pos2"], err_msg=f"{case}: RoPE positions of view 2")
        for stream, ours in (("dec1", dec1), ("dec2", dec2)):
            keys = sorted(k for k in dec_ref.files if k.startswith(stream + "_"))
            assert len(keys) == len(ours), f"{case}: {len(ours)} decoder outputs vs {len(keys)} recorded"
            for key, tokens in zip(keys, ours):
                err = _max_err(tokens, dec_ref[key], f"{case}/{key}")
                assert err <= TOL, f"{case}: decoder output {key} differs by {err:.3g}"

    out_ref = np.load(folder / "outputs.npz")
    produced = _final_outputs(res1, res2)
    assert set(out_ref.files) == set(produced)
    for key, ours in produced.items():
        err = _max_err(ours, out_ref[key], f"{case}/{key}")
        assert err <= TOL, f"{case}: {key} differs from the reference by {err:.3g}"
    # The one-call forward is the same composition (float rounding may differ with batch layout).
    torch.testing.assert_close(full1["pts3d"], res1["pts3d"], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(full2["pts3d_in_other_view"], res2["pts3d_in_other_view"], rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not torch.accelerator.is_available(), reason="needs an accelerator (the CPU run is the test above)")
def test_outputs_match_reference_on_the_accelerator(golden_case, golden_views, shared_path):
    """Same tolerance on GPU: float32 throughout, TF32 matmuls off (TF32 alone would miss 1e-4)."""
    device = torch.accelerator.current_accelerator()
    case = golden_case
    folder = shared_path("golden", case)
    model = recon3r.load_model(folder, device=device)
    view1, view2 = golden_views(folder / "inputs.npz")
    view1 = {k: v.to(device) if torch.is_tensor(v) else v for k, v in view1.items()}
    view2 = {k: v.to(device) if torch.is_tensor(v) else v for k, v in view2.items()}
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            res1, res2 = model(view1, view2)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    assert res1["pts3d"].device.type == device.type
    out_ref = np.load(folder / "outputs.npz")
    produced = _final_outputs(res1, res2)
    for key, ours in produced.items():
        err = _max_err(ours.cpu(), out_ref[key], f"{case}/{key}")
        assert err <= TOL, f"{case} on {device}: {key} differs from the reference by {err:.3g}"
