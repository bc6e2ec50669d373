"""Behaviour of AsymmetricCroCo3DStereo beyond the golden cases: symmetry, layouts, dtypes, training, extension hooks."""

from __future__ import annotations

import pytest
import torch

from recon3r.errors import ConfigError
from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo, build_model, get_model_class, list_models
from recon3r.models.dust3r import is_symmetrized

TINY_LINEAR = TINY_CONFIGS["tiny_linear"]
TINY_DPT = TINY_CONFIGS["tiny_dpt"]


def test_forward_returns_official_keys_and_shapes(tiny_linear_model, random_views):
    view1, view2 = random_views(batch=2)
    with torch.no_grad():
        res1, res2 = tiny_linear_model(view1, view2)
    assert set(res1) == {"pts3d", "conf"} and set(res2) == {"pts3d_in_other_view", "conf"}
    assert res1["pts3d"].shape == (2, 32, 48, 3) and res2["conf"].shape == (2, 32, 48)
    assert bool((res1["conf"] >= 1).all())  # conf_mode ('exp', 1, inf)


def test_symmetrized_batch_encodes_half_and_gives_the_same_result(tiny_linear_model):
    g = torch.Generator().manual_seed(5)
    a, b, c, d = (torch.rand(1, 3, 32, 48, generator=g) * 2 - 1 for _ in range(4))
    view1 = {"img": torch.cat([a, b, c, d]), "instance": ["a", "b", "c", "d"]}
    view2 = {"img": torch.cat([b, a, d, c]), "instance": ["b", "a", "d", "c"]}
    assert is_symmetrized(view1, view2)
    calls = []
    encode_image = tiny_linear_model.encode_image
    tiny_linear_model.encode_image = lambda img, shape: calls.append(img.shape[0]) or encode_image(img, shape)
    with torch.no_grad():
        sym1, sym2 = tiny_linear_model(view1, view2)
        full1, full2 = tiny_linear_model({"img": view1["img"]}, {"img": view2["img"]})
    assert calls == [4, 8]  # half the images when symmetrized
    torch.testing.assert_close(sym1["pts3d"], full1["pts3d"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sym2["pts3d_in_other_view"], full2["pts3d_in_other_view"], rtol=1e-5, atol=1e-5)


def test_symmetry_detection_needs_swapped_pairs():
    assert not is_symmetrized({"instance": ["a"]}, {"instance": ["b"]})
    assert not is_symmetrized({"instance": ["a", "b"]}, {"instance": ["b", "c"]})
    assert not is_symmetrized({"instance": ["a", "b", "c"]}, {"instance": ["b", "a", "c"]})
    assert not is_symmetrized({}, {})


def test_portrait_in_true_layout_gives_portrait_output_only_without_landscape_only(random_views):
    torch.manual_seed(0)
    view1, view2 = random_views(batch=1, height=48, width=32)
    default = AsymmetricCroCo3DStereo(**TINY_LINEAR).eval()
    native = AsymmetricCroCo3DStereo(**dict(TINY_LINEAR, landscape_only=False)).eval()
    native.load_state_dict(default.state_dict())
    with torch.no_grad():
        transposed = default(view1, view2)[0]["pts3d"]
        portrait = native(view1, view2)[0]["pts3d"]
    assert transposed.shape == (1, 32, 48, 3) and portrait.shape == (1, 48, 32, 3)
    torch.testing.assert_close(transposed, portrait.transpose(1, 2))


def test_views_of_different_sizes_are_encoded_separately(tiny_dpt_model, random_views):
    view1, _ = random_views(batch=1, height=32, width=64)
    _, view2 = random_views(batch=1, height=32, width=48, seed=1)
    with torch.no_grad():
        res1, res2 = tiny_dpt_model(view1, view2)
    assert res1["pts3d"].shape == (1, 32, 64, 3) and res2["pts3d_in_other_view"].shape == (1, 32, 48, 3)


@pytest.mark.parametrize("config", [TINY_LINEAR, TINY_DPT], ids=["linear", "dpt"])
def test_backward_reaches_every_parameter_but_the_unused_ones(config, random_views):
    torch.manual_seed(0)
    model = AsymmetricCroCo3DStereo(**config).train()
    view1, view2 = random_views(batch=2)
    res1, res2 = model(view1, view2)
    (res1["pts3d"].mean() + res2["pts3d_in_other_view"].mean() + res1["conf"].mean() + res2["conf"].mean()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    # As in the reference: the mask token (CroCo pre-training) and, in DPT, refinenet4's skip unit are unused.
    unused = ["mask_token"] + [n for n, _ in model.named_parameters() if "refinenet4.resConfUnit1" in n]
    assert no_grad == unused


def test_float64_model_agrees_with_float32(tiny_dpt_model, random_views):
    view1, view2 = random_views(batch=1)
    double = AsymmetricCroCo3DStereo(**TINY_DPT).double().eval()
    double.load_state_dict(tiny_dpt_model.state_dict())
    with torch.no_grad():
        ref = tiny_dpt_model(view1, view2)[0]["pts3d"]
        out = double({"img": view1["img"].double()}, {"img": view2["img"].double()})[0]["pts3d"]
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), ref, rtol=1e-4, atol=1e-4)


def test_bfloat16_autocast_runs_with_float32_heads(tiny_linear_model, random_views):
    view1, view2 = random_views(batch=1)
    with torch.no_grad():
        ref = tiny_linear_model(view1, view2)[0]["pts3d"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = tiny_linear_model(view1, view2)[0]["pts3d"]
    assert out.dtype == torch.float32
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()


def test_freeze_modes():
    model = AsymmetricCroCo3DStereo(**dict(TINY_LINEAR, freeze="encoder"))
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "mask_token" in frozen and "patch_embed.proj.weight" in frozen and "enc_blocks.1.mlp.fc2.bias" in frozen
    assert not any(n.startswith(("enc_norm", "dec_blocks", "decoder_embed", "downstream")) for n in frozen)
    mask_only = AsymmetricCroCo3DStereo(**dict(TINY_LINEAR, freeze="mask"))
    assert [n for n, p in mask_only.named_parameters() if not p.requires_grad] == ["mask_token"]


def test_croco_style_state_dict_fills_the_second_decoder(tiny_linear_model):
    croco = {k: v for k, v in tiny_linear_model.state_dict().items() if not k.startswith("dec_blocks2.")}
    fresh = AsymmetricCroCo3DStereo(**TINY_LINEAR)
    fresh.load_state_dict(croco)
    for name, value in fresh.state_dict().items():
        if name.startswith("dec_blocks2."):
            assert torch.equal(value, croco["dec_blocks." + name[len("dec_blocks2.") :]])


@pytest.mark.parametrize("drop", ["layer_rn.", "_rn.weight"])
def test_dpt_layer_rn_weights_load_under_either_official_name(tiny_dpt_model, drop):
    sd = tiny_dpt_model.state_dict()
    if drop == "layer_rn.":
        partial_sd = {k: v for k, v in sd.items() if ".scratch.layer_rn." not in k}
    else:
        partial_sd = {k: v for k, v in sd.items() if not (".scratch.layer" in k and "_rn.weight" in k and "layer_rn." not in k)}
    assert len(partial_sd) == len(sd) - 8
    fresh = AsymmetricCroCo3DStereo(**TINY_DPT)
    fresh.load_state_dict(partial_sd)
    for name, value in sd.items():
        assert torch.equal(fresh.state_dict()[name], value), name


def test_extra_unplaced_tokens_join_attention_but_not_the_outputs(tiny_linear_model, random_views):
    view1, view2 = random_views(batch=2)
    with torch.no_grad():
        enc = tiny_linear_model.encode_pair(view1, view2)
        base1, base2 = tiny_linear_model.decode(enc.feat1, enc.pos1, enc.feat2, enc.pos2)
        extra = torch.randn(2, 1, tiny_linear_model.dec_embed_dim)
        with1, with2 = tiny_linear_model.decode(enc.feat1, enc.pos1, enc.feat2, enc.pos2, extra1=extra, extra2=extra)
    assert [t.shape for t in with1] == [t.shape for t in base1]
    assert torch.equal(with1[0], base1[0])
    assert not torch.allclose(with1[-1], base1[-1])
    # Patch tokens alone are invariant to a shift of the whole grid (relative RoPE); the unplaced
    # token has no position, so with it the shift is visible.
    with torch.no_grad():
        shifted1, _ = tiny_linear_model.decode(enc.feat1, enc.pos1 + 5, enc.feat2, enc.pos2 + 5)
        shifted_with1, _ = tiny_linear_model.decode(
            enc.feat1, enc.pos1 + 5, enc.feat2, enc.pos2 + 5, extra1=extra, extra2=extra
        )
    torch.testing.assert_close(shifted1[-1], base1[-1], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(shifted_with1[-1], with1[-1], rtol=1e-4, atol=1e-4)


def test_decode_layer_is_the_per_layer_extension_point(random_views):
    class Counting(AsymmetricCroCo3DStereo):
        def decode_layer(self, layer, f1, f2, rope1, rope2):
            self.seen.append(layer)
            return super().decode_layer(layer, f1, f2, rope1, rope2)

    model = Counting(**TINY_LINEAR).eval()
    model.seen = []
    with torch.no_grad():
        model(*random_views(batch=1))
    assert model.seen == [0, 1]


def test_registry_builds_by_name_and_rejects_unknown_names_and_arguments():
    assert "AsymmetricCroCo3DStereo" in list_models()
    assert get_model_class("AsymmetricCroCo3DStereo") is AsymmetricCroCo3DStereo
    model = build_model("AsymmetricCroCo3DStereo", TINY_LINEAR)
    assert model.config["img_size"] == (32, 48) and model.config["depth_mode"][0] == "exp"
    with pytest.raises(ConfigError, match="unknown model class 'Nope'"):
        build_model("Nope", {})
    with pytest.raises(ConfigError, match="enc_width"):
        build_model("AsymmetricCroCo3DStereo", dict(TINY_LINEAR, enc_width=3))


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(depth_mode=("cubic", 0, 1)), "depth_mode"),
        (dict(head_type="mlp"), "head_type"),
        (dict(pos_embed="cosine"), "cosine"),
        (dict(img_size=(30, 48)), "img_size"),
        (dict(freeze="decoder"), "freeze"),
    ],
)
def test_bad_constructor_values_raise_config_errors_naming_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        AsymmetricCroCo3DStereo(**dict(TINY_LINEAR, **override))


def test_full_size_model_runs_on_the_meta_device_with_a_landscape_portrait_pair():
    from recon3r.models import OFFICIAL_CONFIGS
    from recon3r.models.checkpoint import inference_layout

    kwargs = inference_layout("AsymmetricCroCo3DStereo", OFFICIAL_CONFIGS["DUSt3R_ViTLarge_BaseDecoder_512_dpt"])
    with torch.device("meta"):
        model = AsymmetricCroCo3DStereo(**kwargs).eval()
    assert all(p.is_meta for p in model.parameters())
    view1 = {"img": torch.empty(1, 3, 384, 512, device="meta")}
    view2 = {"img": torch.empty(1, 3, 512, 384, device="meta")}
    with torch.no_grad():
        res1, res2 = model(view1, view2)
    assert res1["pts3d"].shape == (1, 384, 512, 3) and res1["pts3d"].is_meta
    assert res2["pts3d_in_other_view"].shape == (1, 512, 384, 3) and res2["conf"].shape == (1, 512, 384)


def test_public_api_names():
    import recon3r.models as models

    assert set(models.__all__) >= {
        "AsymmetricCroCo3DStereo",
        "OFFICIAL_CONFIGS",
        "PairEncoding",
        "TINY_CONFIGS",
        "build_model",
        "checkpoint_filter_fn",
        "convert_checkpoint",
        "get_model_class",
        "list_models",
        "load_model",
        "register_model",
        "save_model",
    }
    for method in ("encode_pair", "encode_images", "encode_image", "decode", "decode_layer", "heads", "run_head"):
        assert callable(getattr(AsymmetricCroCo3DStereo, method))
