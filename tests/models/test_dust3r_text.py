"""The multimodal pair model: inert at initialisation, captions and their dropout, RoPE-free caption
tokens, DUSt3R / Exif-as-Language initialisation, checkpoints and devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon3r.errors import CheckpointError, ConfigError
from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo, load_model, save_model
from recon3r.models.checkpoint import parse_constructor
from recon3r.models.dust3r_text import NEW_PREFIXES, AsymmetricCroCo3DStereoAndText
from recon3r.models.registry import build_model, get_model_class, list_models

CAPTIONS1 = ["Make: Procedural, Model: PX-APSC, FocalLength: 18.3 mm, FocalLengthIn35mmFilm: 27", ""]
CAPTIONS2 = [None, "a red chair in a small room"]
SMALL_DISTILBERT = {"dim": 32, "hidden_dim": 64, "n_layers": 2, "n_heads": 2, "max_position_embeddings": 64}


def make_views(batch: int = 2, seed: int = 0, captions1=None, captions2=None) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(seed)
    view1 = {"img": torch.rand(batch, 3, 32, 48, generator=g) * 2 - 1}
    view2 = {"img": torch.rand(batch, 3, 32, 48, generator=g) * 2 - 1}
    if captions1 is not None:
        view1["caption"] = list(captions1)
    if captions2 is not None:
        view2["caption"] = list(captions2)
    return view1, view2


def max_difference(out_a, out_b) -> float:
    return max(float((out_a[i][k] - out_b[i][k]).abs().max()) for i in range(2) for k in out_a[i])


def text_model(config: str = "tiny_linear", seed: int = 0, **kwargs) -> AsymmetricCroCo3DStereoAndText:
    torch.manual_seed(seed)
    return AsymmetricCroCo3DStereoAndText(**TINY_CONFIGS[config], **kwargs).eval()


def open_fusion(model: AsymmetricCroCo3DStereoAndText, seed: int = 1) -> AsymmetricCroCo3DStereoAndText:
    """Give the zero-initialised gates / FiLM layers random values, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(("caption_gates", "caption_film")):
                param.copy_(torch.randn(param.shape, generator=g) * 0.5)
    return model


@pytest.fixture(scope="module")
def duster_checkpoint(tmp_path_factory):
    """(folder, pair model): a tiny_dpt DUSt3R model saved as model.safetensors + config.json."""
    torch.manual_seed(3)
    pair = AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_dpt"]).eval()
    folder = tmp_path_factory.mktemp("duster") / "tiny_dpt"
    save_model(pair, folder)
    return folder, pair


# ---------------------------------------------------------------- zero initialisation
@pytest.mark.parametrize("fusion", ["token", "film"])
@pytest.mark.parametrize("config", ["tiny_linear", "tiny_dpt"])
def test_fresh_model_from_duster_weights_reproduces_the_pair_model(config, fusion, tmp_path):
    torch.manual_seed(5)
    pair = AsymmetricCroCo3DStereo(**TINY_CONFIGS[config]).eval()
    save_model(pair, tmp_path / "duster")
    model = text_model(config, seed=9, fusion=fusion)
    report = model.load_pretrained_parts(duster_path=tmp_path / "duster")
    assert set(report["loaded"]) == set(pair.state_dict())
    view1, view2 = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    with torch.no_grad():
        expected = pair(view1, view2)
        got = model(view1, view2)
    assert max_difference(expected, got) <= 1e-6
    # Once the fusion parameters move, the caption does change the output.
    open_fusion(model)
    with torch.no_grad():
        assert max_difference(expected, model(view1, view2)) > 1e-4


@pytest.mark.parametrize("fusion", ["token", "film"])
@pytest.mark.parametrize("case", ["linear_manyar_mixed", "dpt_landscape"])
def test_fresh_model_on_golden_duster_weights_gives_the_reference_outputs(case, fusion, shared_path):
    """With the released-format weights of a golden case, the untrained model is the reference DUSt3R (1e-4)."""
    from recon3r.models.checkpoint import read_checkpoint

    folder = shared_path("golden", case)
    _, kwargs, _, _ = read_checkpoint(folder)
    model = AsymmetricCroCo3DStereoAndText(**kwargs, fusion=fusion, text_encoder_kwargs={"hidden_size": 16}).eval()
    model.load_pretrained_parts(duster_path=folder)
    inputs, reference = np.load(folder / "inputs.npz"), np.load(folder / "outputs.npz")
    views = []
    for name in ("view1", "view2"):
        batch = inputs[f"{name}_img"].shape[0]
        views.append({"img": torch.from_numpy(inputs[f"{name}_img"]),
                      "true_shape": torch.from_numpy(inputs[f"{name}_true_shape"]),
                      "caption": ["FocalLength: 24.0 mm", ""][:batch] + ["x"] * (batch - 2)})
    with torch.no_grad():
        res1, res2 = model(*views)
    for key, ours in (("res1_pts3d", res1["pts3d"]), ("res1_conf", res1["conf"]),
                      ("res2_pts3d_in_other_view", res2["pts3d_in_other_view"]), ("res2_conf", res2["conf"])):
        assert np.abs(ours.numpy().astype(np.float64) - reference[key]).max() <= 1e-4, key


def test_default_fusion_is_the_token_and_starts_closed():
    model = text_model()
    assert model.config["fusion"] == "token" and model.config["caption_share"] == 0.5
    assert torch.equal(model.caption_gates, torch.zeros(2, model.dec_depth, 2))
    assert torch.equal(model.caption_logit_offsets, torch.zeros(2, model.dec_depth, 2))
    assert set(model.fusion_gates()) == {f"caption_gate.view{s}.layer{layer}.{kind}" for s in (1, 2)
                                         for layer in range(model.dec_depth) for kind in ("self", "cross")}
    assert set(model.fusion_gates().values()) == {0.0}


def test_caption_key_gets_its_share_of_attention_whatever_the_number_of_image_tokens():
    """With equal scores the caption key takes `caption_share` of the attention of an open gate,
    for 4 or 40 image tokens; without the share (None) it takes 1 / (N + 1), as before issue 18."""
    from recon3r.models.dust3r_text import caption_attention

    for n_image in (4, 40):
        model = text_model(caption_share=0.3)
        logits = model.caption_key_logits(0, 0, n_image + 1, n_image + 1).detach()
        q = k = torch.zeros(1, 2, n_image + 1, 8, dtype=torch.float64)
        v = torch.zeros(1, 2, n_image + 1, 8, dtype=torch.float64)
        v[:, :, -1] = 1.0  # only the caption's value is non-zero: the output is its attention weight
        open_gate = torch.tensor(30.0, dtype=torch.float64)
        share = caption_attention(q, k, v, None, None, 1, open_gate, logits[0])[0, :, :n_image]
        torch.testing.assert_close(share, torch.full_like(share, 0.3))
        plain = caption_attention(q, k, v, None, None, 1, open_gate)[0, :, :n_image]
        torch.testing.assert_close(plain, torch.full_like(plain, 1 / (n_image + 1)))
        closed = caption_attention(q, k, v, None, None, 1, torch.tensor(0.0, dtype=torch.float64), logits[0])
        assert float(closed[0, :, :n_image].abs().max()) == 0.0
    with pytest.raises(ConfigError, match="caption_share must be in"):
        text_model(caption_share=1.0)
    assert not hasattr(text_model(caption_share=None), "caption_logit_offsets")


def test_token_checkpoint_from_before_the_caption_share_is_refused_with_the_fix(tmp_path):
    import json

    legacy = text_model(caption_share=None)
    save_model(legacy, tmp_path / "legacy")
    config_path = tmp_path / "legacy" / "config.json"
    config = json.loads(config_path.read_text())
    del config["kwargs"]["caption_share"]  # as written before the argument existed
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match='add "caption_share": null'):
        load_model(tmp_path / "legacy")
    config["kwargs"]["caption_share"] = None
    config_path.write_text(json.dumps(config))
    view1, view2 = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    with torch.no_grad():
        assert max_difference(legacy(view1, view2), load_model(tmp_path / "legacy")(view1, view2)) <= 1e-6


def test_caption_focal_head_reads_present_captions_only():
    model = text_model(caption_focal_weight=0.5)
    assert model.config["caption_focal_weight"] == 0.5
    view1, view2 = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    with torch.no_grad():
        res1, res2 = model(view1, view2)
    assert torch.isfinite(res1["caption_focal"]).tolist() == [True, False]
    assert torch.isfinite(res2["caption_focal"]).tolist() == [False, True]
    with torch.no_grad():
        assert "caption_focal" not in text_model()(view1, view2)[0]


# ---------------------------------------------------------------- captions
@pytest.mark.parametrize("fusion", ["token", "film"])
def test_missing_caption_spellings_all_use_the_null_embedding(fusion):
    model = open_fusion(text_model(fusion=fusion))
    outputs = []
    for missing in (None, "", "   "):
        view1, view2 = make_views(captions1=[missing, missing], captions2=[missing, missing])
        if missing is None:
            view1.pop("caption"), view2.pop("caption")
        with torch.no_grad():
            outputs.append(model(view1, view2))
    assert max_difference(outputs[0], outputs[1]) == 0.0
    assert max_difference(outputs[0], outputs[2]) == 0.0
    tok1, tok2 = model.caption_tokens(*make_views(captions1=["", "x"], captions2=[None, ""]))
    assert torch.equal(tok1[0, 0], model.caption_null) and torch.equal(tok2[1, 0], model.caption_null)
    assert not torch.equal(tok1[1, 0], model.caption_null)


@pytest.mark.parametrize("fusion", ["token", "film"])
def test_each_view_is_conditioned_on_its_own_caption(fusion):
    model = open_fusion(text_model(fusion=fusion))
    base = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    changed = make_views(captions1=["FocalLength: 50.0 mm", CAPTIONS1[1]], captions2=CAPTIONS2)
    with torch.no_grad():
        out_a, out_b = model(*base), model(*changed)
    # Only pair 0's caption changed: pair 1 is untouched, pair 0 (both outputs) moves.
    for res_a, res_b in zip(out_a, out_b):
        for key in res_a:
            assert torch.equal(res_a[key][1], res_b[key][1])
        assert not torch.allclose(res_a["conf"][0], res_b["conf"][0])


def test_caption_dropout_is_training_only_and_follows_torch_seed():
    model = text_model(caption_dropout=0.5)
    views = make_views(batch=8, captions1=["FocalLength: 20.0 mm"] * 8, captions2=["FocalLength: 35.0 mm"] * 8)

    def dropped(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        tok1, tok2 = model.caption_tokens(*views)
        tokens = torch.cat((tok1, tok2))[:, 0]
        return (tokens == model.caption_null).all(dim=1)

    model.train()
    first, again, other = dropped(0), dropped(0), dropped(1)
    assert torch.equal(first, again)
    assert 0 < int(first.sum()) < 16
    assert not torch.equal(first, other)
    model.eval()
    assert not dropped(0).any()
    never = text_model(caption_dropout=0.0).train()
    torch.manual_seed(0)
    state = torch.get_rng_state()
    never.caption_tokens(*views)
    assert torch.equal(state, torch.get_rng_state())  # no dropout, no draw


class CountingTokenizer:
    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, []

    def __call__(self, captions, **kwargs):
        self.calls.append(list(captions))
        return self.tokenizer(captions, **kwargs)


def test_captions_are_tokenised_once_per_batch_and_cached_while_frozen():
    model = text_model()
    counter = model.text_encoder.tokenizer = CountingTokenizer(model.text_encoder.tokenizer)
    views = make_views(captions1=["cap a", "cap b"], captions2=["cap b", ""])
    with torch.no_grad():
        first = model(*views)
        second = model(*views)
    assert counter.calls == [["cap a", "cap b"]]  # both views in one call, duplicates once, then cached
    assert max_difference(first, second) == 0.0
    # A frozen encoder embeds each caption alone: its embedding does not depend on its batch-mates.
    alone, _ = model.embed_captions(["cap b"])
    model.clear_caption_cache()
    together, _ = model.embed_captions(["a much longer caption that pads the batch", "cap b"])
    assert torch.equal(alone[0], together[1])
    # Fine-tuned encoders are not cached (their weights change every step).
    tuned = text_model(freeze_text=False)
    counter = tuned.text_encoder.tokenizer = CountingTokenizer(tuned.text_encoder.tokenizer)
    with torch.no_grad():
        tuned(*views)
        tuned(*views)
    assert counter.calls == [["cap a", "cap b"]] * 2


def test_bad_caption_lists_are_refused():
    model = text_model()
    view1, view2 = make_views(captions1=["only one"], captions2=CAPTIONS2)
    with pytest.raises(ValueError, match=r"view1\['caption'\] must be a list of 2"):
        model(view1, view2)
    view1["caption"] = "a string, not a list"
    with pytest.raises(ValueError, match="must be a list"):
        model(view1, view2)


# ---------------------------------------------------------------- RoPE
def test_caption_token_is_appended_without_a_rope_position():
    model = open_fusion(text_model())
    seen = []
    original = model.rope.table

    def spy(positions, head_dim):
        seen.append(positions.clone())
        return original(positions, head_dim)

    model.rope.table = spy
    view1, view2 = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    with torch.no_grad():
        enc = model.encode_pair(view1, view2)
        seen.clear()
        model(view1, view2)
    decoder_positions = [p for p in seen if p.shape[1] == enc.pos1.shape[1] + 1]
    assert len(decoder_positions) == 2
    for positions in decoder_positions:
        assert torch.equal(positions[:, -1], torch.full_like(positions[:, -1], -1))
        table = original(positions, 16)
        assert torch.equal(table.cos[:, :, -1], torch.ones_like(table.cos[:, :, -1]))
        assert torch.equal(table.sin[:, :, -1], torch.zeros_like(table.sin[:, :, -1]))


def _outputs_with_shifted_positions(model, views, shift: int):
    original = model.encode_pair

    def shifted(view1, view2):
        enc = original(view1, view2)
        return enc._replace(pos1=enc.pos1 + shift, pos2=enc.pos2 + shift)

    model.encode_pair = shifted
    try:
        with torch.no_grad():
            return model(*views)
    finally:
        del model.encode_pair


def test_token_fusion_is_invariant_to_where_the_image_grid_sits():
    """RoPE sees relative positions only, so moving every image token by the same offset changes
    nothing, unless the caption token had a position of its own (then its offset would change)."""
    model = open_fusion(text_model())
    views = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    with torch.no_grad():
        reference = model(*views)
    assert max_difference(reference, _outputs_with_shifted_positions(model, views, 7)) < 1e-5

    # Control: plain decoder blocks with the token merely unrotated treat it as a token at (0, 0),
    # and the same shift changes their outputs, so the check above can fail.
    model.decode_layer = AsymmetricCroCo3DStereo.decode_layer.__get__(model)
    with torch.no_grad():
        unrotated_reference = model(*views)
    assert max_difference(unrotated_reference, _outputs_with_shifted_positions(model, views, 7)) > 1e-4


def test_caption_attention_matches_explicit_scores():
    """Image-image scores use rotated q/k; any score with the caption uses unrotated q/k (float64 reference)."""
    from recon3r.models.dust3r_text import caption_attention
    from recon3r.models.layers.rope import RoPE2D, apply_rotary

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 5, 8, generator=g, dtype=torch.float64) for _ in range(3))
    positions = torch.tensor([[[0, 0], [0, 1], [1, 0], [1, 1], [-1, -1]]])
    table = RoPE2D(100.0).table(positions, 8)
    table = type(table)(table.cos.double(), table.sin.double())
    gate = torch.tensor(0.3, dtype=torch.float64)
    got = caption_attention(q, k, v, table, table, 1, gate)
    qr, kr = apply_rotary(q, table), apply_rotary(k, table)
    scores = q @ k.transpose(-1, -2)
    scores[:, :, :4, :4] = qr[:, :, :4] @ kr[:, :, :4].transpose(-1, -2)
    full = torch.softmax(scores / 8**0.5, dim=-1) @ v
    image = torch.softmax(scores[:, :, :4, :4] / 8**0.5, dim=-1) @ v[:, :, :4]
    expected = torch.cat((image + torch.tanh(gate) * (full[:, :, :4] - image), full[:, :, 4:]), dim=2)
    torch.testing.assert_close(got, expected)
    # A caption logit is added to every (scaled) score of the caption key, image and caption queries alike.
    logit = torch.tensor(1.7, dtype=torch.float64)
    scaled = scores / 8**0.5
    scaled[:, :, :, 4] += logit
    full = torch.softmax(scaled, dim=-1) @ v
    expected = torch.cat((image + torch.tanh(gate) * (full[:, :, :4] - image), full[:, :, 4:]), dim=2)
    torch.testing.assert_close(caption_attention(q, k, v, table, table, 1, gate, logit), expected)


# ---------------------------------------------------------------- initialisation from files
def test_duster_weights_load_every_image_parameter_and_list_the_new_ones(duster_checkpoint):
    folder, pair = duster_checkpoint
    model = text_model("tiny_dpt", seed=11, fusion="film")
    report = model.load_pretrained_parts(duster_path=folder)
    assert report["loaded"] == sorted(pair.state_dict())
    assert report["unexpected"] == []
    assert report["new"] == sorted(k for k in model.state_dict() if k.startswith(NEW_PREFIXES))
    assert {"caption_null", "caption_proj.fc1.weight", "caption_film1.0.weight"} <= set(report["new"])
    assert any(k.startswith("text_encoder.") for k in report["new"])
    own = model.state_dict()
    for name, value in pair.state_dict().items():
        assert torch.equal(own[name], value), name


def test_duster_weights_from_an_official_style_pth(tmp_path):
    torch.manual_seed(2)
    pair = AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_linear"])
    state = {f"module.{k}": v for k, v in pair.state_dict().items() if not k.startswith("dec_blocks2.")}
    torch.save({"model": state, "epoch": 1}, tmp_path / "croco_style.pth")  # one decoder, DataParallel prefix
    model = text_model()
    model.load_pretrained_parts(duster_path=tmp_path / "croco_style.pth")
    own = model.state_dict()
    for name, value in pair.dec_blocks.state_dict().items():
        assert torch.equal(own[f"dec_blocks2.{name}"], value)


def test_duster_weights_of_another_architecture_are_refused_with_names(duster_checkpoint):
    folder, _ = duster_checkpoint
    model = text_model("tiny_linear")
    with pytest.raises(CheckpointError, match=r"--duster_path .*(missing|shape mismatch)"):
        model.load_pretrained_parts(duster_path=folder)


@pytest.fixture(scope="module")
def exif_checkpoint(tmp_path_factory):
    """(path, tower): the Exif-as-Language wrapper layout around a small random DistilBERT."""
    from transformers import DistilBertConfig, DistilBertModel

    torch.manual_seed(4)
    tower = DistilBertModel(DistilBertConfig(**SMALL_DISTILBERT)).eval()
    state = {f"model.transformer.{k}": v for k, v in tower.state_dict().items()}
    state.update({"model.visual.fc.weight": torch.randn(8, 32), "model.logit_scale": torch.tensor(1.0),
                  "model.text_projection": torch.randn(8, 8), "sink_temp": torch.tensor(0.1)})
    path = tmp_path_factory.mktemp("exif") / "exif_as_language.pth"
    torch.save({"model": state, "epoch": 3}, path)
    return path, tower


def test_exif_tower_loads_into_the_text_encoder(exif_checkpoint, duster_checkpoint):
    path, tower = exif_checkpoint
    folder, _ = duster_checkpoint
    model = text_model("tiny_dpt", text_encoder="exif", text_encoder_kwargs={"distilbert_config": SMALL_DISTILBERT})
    captions = ["Make: Canon, FocalLength: 50.0 mm", "FocalLength: 4.2 mm"]
    before, _ = model.embed_captions(captions)  # also fills the cache, which loading must clear
    report = model.load_pretrained_parts(duster_path=folder, exif_path=path)
    tower_names = {f"text_encoder.backbone.{k}" for k in tower.state_dict()}
    assert tower_names <= set(report["loaded"])
    assert not any(name.startswith("text_encoder.") for name in report["new"])
    for name, value in tower.state_dict().items():
        assert torch.equal(model.state_dict()[f"text_encoder.backbone.{name}"], value)
    after, present = model.embed_captions(captions)
    from recon3r.models.encoders.text import ExifAsLanguageEncoder

    reference = ExifAsLanguageEncoder(path, distilbert_config=SMALL_DISTILBERT).eval()
    torch.testing.assert_close(after, reference.encode(captions))
    assert present.all() and not torch.allclose(before, after)


def test_exif_path_needs_the_exif_text_encoder(exif_checkpoint):
    with pytest.raises(ConfigError, match="text_encoder='exif'"):
        text_model().load_pretrained_parts(exif_path=exif_checkpoint[0])


# ---------------------------------------------------------------- config, registry, checkpoints
@pytest.mark.parametrize("fusion", ["token", "film"])
def test_save_and_load_round_trip_without_the_original_files(fusion, tmp_path, exif_checkpoint):
    model = open_fusion(text_model(fusion=fusion, text_encoder=str(exif_checkpoint[0]),
                                   text_encoder_kwargs={"distilbert_config": SMALL_DISTILBERT}))
    assert model.config["text_encoder"] == "exif_as_language"
    assert "checkpoint_path" not in model.config["text_encoder_kwargs"]
    save_model(model, tmp_path / "saved")
    loaded = load_model(tmp_path / "saved")
    assert type(loaded) is AsymmetricCroCo3DStereoAndText and loaded.config == model.config
    views = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    with torch.no_grad():
        assert max_difference(model(*views), loaded(*views)) == 0.0


def test_constructor_strings_and_registry_know_every_argument():
    assert "AsymmetricCroCo3DStereoAndText" in list_models()
    assert get_model_class("AsymmetricCroCo3DStereoAndText") is AsymmetricCroCo3DStereoAndText
    name, kwargs = parse_constructor(
        "AsymmetricCroCo3DStereoAndText(enc_embed_dim=32, enc_depth=1, enc_num_heads=2, dec_embed_dim=32, dec_depth=1,"
        " dec_num_heads=2, img_size=(32, 48), pos_embed='RoPE100', fusion='film', text_encoder='tiny',"
        " text_encoder_kwargs={'hidden_size': 16, 'num_layers': 1})"
    )
    model = build_model(name, kwargs)
    assert model.config["fusion"] == "film" and model.text_encoder.dim == 16
    with pytest.raises(ConfigError, match="unknown argument.*fusoin"):
        build_model(name, {**kwargs, "fusoin": "film"})
    with pytest.raises(ConfigError, match="fusion='gate' is unknown"):
        AsymmetricCroCo3DStereoAndText(**TINY_CONFIGS["tiny_linear"], fusion="gate")
    with pytest.raises(ConfigError, match="freeze_text"):
        AsymmetricCroCo3DStereoAndText(**TINY_CONFIGS["tiny_linear"], text_encoder_kwargs={"frozen": False})


def test_parameter_groups_scale_the_text_encoder_and_the_new_caption_parameters():
    frozen = text_model(caption_lr_scale=10.0)
    (text_names, text_scale), (caption_names, caption_scale) = frozen.extra_parameter_groups()
    assert text_names == [] and text_scale == 0.1
    assert caption_scale == 10.0
    assert set(caption_names) == {n for n, _ in frozen.named_parameters() if n.startswith("caption_")}
    assert {"caption_null", "caption_gates", "caption_proj.fc1.weight"} <= set(caption_names)
    assert not any(p.requires_grad for p in frozen.text_encoder.parameters())
    frozen.train()
    assert not frozen.text_encoder.training
    tuned = text_model(freeze_text=False, text_lr_scale=0.25)
    names, scale = tuned.extra_parameter_groups()[0]
    assert scale == 0.25
    assert set(names) == {f"text_encoder.{n}" for n, _ in tuned.text_encoder.named_parameters()}


def test_caption_embeddings_are_standardised_with_running_statistics_of_present_captions():
    from recon3r.models.dust3r_text import RunningStandardize

    norm = RunningStandardize(3, momentum=0.5)
    x = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 5.0], [100.0, 100.0, 100.0]])
    present = torch.tensor([True, True, False])
    torch.testing.assert_close(norm.eval()(x), x / (1 + 1e-5) ** 0.5)  # starts as the identity, eval never updates
    assert int(norm.updates) == 0
    norm.train()(x, weights=present)  # first update: exactly the statistics of the present rows
    torch.testing.assert_close(norm.mean, torch.tensor([2.0, 2.0, 4.0]))
    torch.testing.assert_close(norm.var, torch.tensor([1.0, 0.0, 1.0]))
    norm(x[:1], weights=present[:1])  # a single row does not update
    assert int(norm.updates) == 1
    norm(x[:2] + 2, weights=present[:2])  # then a running average at rate max(1/2, momentum)
    torch.testing.assert_close(norm.mean, torch.tensor([3.0, 3.0, 5.0]))
    out = norm.eval()(torch.tensor([[3.0, 3.0, 6.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, 1 / (1 + 1e-5) ** 0.5]]))
    # In the model, the statistics are buffers (saved with it) and missing captions do not count.
    model = text_model().train()
    model.caption_tokens(*make_views(captions1=["a", None], captions2=["", "b"]))
    assert int(model.caption_norm.updates) == 1 and "caption_norm.mean" in model.state_dict()


@pytest.mark.parametrize("fusion", ["token", "film"])
def test_gradients_reach_the_caption_path_once_the_fusion_is_open(fusion):
    model = open_fusion(text_model(fusion=fusion, freeze_text=False)).train()
    model.caption_dropout = 0.0
    view1, view2 = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    res1, res2 = model(view1, view2)
    (res1["pts3d"].sum() + res2["pts3d_in_other_view"].sum()).backward()
    for name in ("caption_null", "caption_proj.fc1.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.text_encoder.parameters())


def test_runs_on_the_device_of_its_weights():
    """No hard-coded device: token ids are made on the model's device and everything follows it
    (the meta device here; Hugging Face attention masks cannot run on meta, so the text backbone's
    pooled output is stubbed with zeros on the device of the ids it receives)."""
    model = text_model().to("meta")
    model.clear_caption_cache()
    seen = []

    def stub(input_ids, attention_mask):
        seen.append((input_ids.device, attention_mask.device))
        return torch.zeros(input_ids.shape[0], model.text_encoder.dim, device=input_ids.device)

    model.text_encoder.forward = stub
    view1, view2 = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    view1["img"], view2["img"] = view1["img"].to("meta"), view2["img"].to("meta")
    with torch.no_grad():
        res1, res2 = model(view1, view2)
    assert seen and all(a.type == "meta" and b.type == "meta" for a, b in seen)
    assert res1["pts3d"].device.type == "meta" and res2["conf"].shape == (2, 32, 48)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_with_captions_encoded_there():
    model = text_model().to("cuda")
    view1, view2 = make_views(captions1=CAPTIONS1, captions2=CAPTIONS2)
    view1["img"], view2["img"] = view1["img"].cuda(), view2["img"].cuda()
    with torch.no_grad():
        res1, _ = model(view1, view2)
    assert res1["pts3d"].is_cuda
