"""Contracts every text encoder keeps, plus the per-implementation behaviour."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from recon3r.errors import ConfigError
from recon3r.models.encoders.text import (
    TEXT_ENCODERS,
    ExifAsLanguageEncoder,
    HFEncoder,
    MiniLMEncoder,
    TextEncoder,
    TinyBertEncoder,
    build_text_encoder,
    encode_captions,
    masked_mean,
)

CAPTIONS = [
    "Make: Canon, Model: Canon EOS 5D, FocalLength: 50.0 mm, FocalLengthIn35mmFilm: 50",
    "a photo of a church at noon",
    "Make: Apple, Model: iPhone 13, FocalLength: 5.1 mm, FocalLengthIn35mmFilm: 26, ISOSpeedRatings: 50",
]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=-1).item()


class Owner(nn.Module):
    """A stand-in for the multimodal model: an encoder plus a trainable head."""

    def __init__(self, encoder: TextEncoder, lr_scale: float = 0.1):
        super().__init__()
        self.text_encoder = encoder
        self.head = nn.Linear(encoder.dim, 3)
        self.lr_scale = lr_scale

    def forward(self, captions):
        return self.head(self.text_encoder.encode(captions))

    def extra_parameter_groups(self):
        return [self.text_encoder.parameter_group("text_encoder.", self.lr_scale)]


# ---------------------------------------------------------------- contracts, every encoder
@pytest.mark.parametrize("batch", [1, 3])
def test_encode_gives_batch_by_dim_float_on_module_device(encoder, batch):
    out = encoder.encode(CAPTIONS[:batch])
    assert out.shape == (batch, encoder.dim)
    assert out.dtype == torch.float32
    assert out.device == encoder.device
    assert torch.isfinite(out).all()


def test_empty_string_caption_is_encoded(encoder):
    out = encoder.encode(["", CAPTIONS[0]])
    assert out.shape == (2, encoder.dim)
    assert torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])


def test_empty_batch_gives_zero_rows(encoder):
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_padding_leaves_embedding_unchanged(encoder):
    encoder.eval()
    alone = encoder.encode([CAPTIONS[1]])
    padded = encoder.encode([CAPTIONS[1], CAPTIONS[2]])  # caption 1 is padded to caption 2's length
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-4)


def test_tokens_are_created_on_the_module_device(fresh_encoder):
    encoder = fresh_encoder
    encoder.to("meta")  # any device but the CPU: nothing may stay on, or be created on, a fixed one
    input_ids, attention_mask = encoder.tokenize(CAPTIONS)
    assert input_ids.device.type == "meta" and attention_mask.device.type == "meta"
    assert input_ids.shape == attention_mask.shape and input_ids.shape[0] == len(CAPTIONS)
    assert encoder.device.type == "meta"


def test_frozen_encoder_gets_no_grads_and_keeps_weights_through_an_optimizer_step(fresh_encoder):
    encoder = fresh_encoder
    owner = Owner(encoder.freeze(True))
    owner.train()
    assert not encoder.training, "a parent's .train() must not re-enable dropout in a frozen encoder"
    before = copy.deepcopy(encoder.state_dict())
    head_before = owner.head.weight.detach().clone()
    optimizer = torch.optim.AdamW(owner.parameters(), lr=0.1, weight_decay=0.1)
    out = owner(CAPTIONS[:2])
    out.square().mean().backward()
    optimizer.step()
    assert all(not p.requires_grad and p.grad is None for p in encoder.parameters())
    assert encoder.trainable_parameter_names() == []
    assert owner.extra_parameter_groups() == [([], 0.1)]
    for name, tensor in encoder.state_dict().items():
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=0, msg=name)
    assert not torch.equal(owner.head.weight, head_before)
    assert not encoder.encode(CAPTIONS[:1]).requires_grad


def test_fine_tuned_encoder_gets_grads_on_every_parameter_and_changes(fresh_encoder):
    encoder = fresh_encoder
    encoder.freeze(False).train()
    before = {k: v.clone() for k, v in encoder.named_parameters()}
    optimizer = torch.optim.SGD(encoder.parameters(), lr=1.0)
    out = encoder.encode(CAPTIONS[:2])
    assert out.requires_grad
    out.square().mean().backward()
    names = [n for n, p in encoder.named_parameters() if p.grad is None]
    assert names == [], f"no gradient for {names}"
    optimizer.step()
    assert not torch.equal(encoder.backbone.embeddings.word_embeddings.weight,
                           before["backbone.embeddings.word_embeddings.weight"])


def test_unfreezing_restores_the_requested_training_mode(fresh_encoder):
    encoder = fresh_encoder
    encoder.train()
    encoder.freeze(True)
    assert not encoder.training and not encoder.backbone.training
    encoder.freeze(False)
    assert encoder.training and encoder.backbone.training
    encoder.eval().freeze(True).freeze(False)
    assert not encoder.training


def test_trainer_puts_encoder_parameters_in_their_own_lr_group(encoder):
    from recon3r.train.trainer import parameter_groups

    owner = Owner(encoder, lr_scale=0.25)
    groups = parameter_groups(owner, weight_decay=0.05)
    text_params = {id(p) for p in encoder.parameters()}
    scaled = [p for g in groups if g["lr_scale"] == 0.25 for p in g["params"]]
    assert {id(p) for p in scaled} == text_params
    assert all(g["lr_scale"] == 1.0 for g in groups if any(p is owner.head.weight for p in g["params"]))


def test_config_rebuilds_the_same_architecture(encoder):
    rebuilt = build_text_encoder(**encoder.config())
    assert type(rebuilt) is type(encoder) and rebuilt.dim == encoder.dim
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in encoder.state_dict().items()}
    rebuilt.load_state_dict(encoder.state_dict())
    rebuilt.eval(), encoder.eval()
    torch.testing.assert_close(rebuilt.encode(CAPTIONS), encoder.encode(CAPTIONS))


def test_state_dict_has_no_unused_pooler(encoder):
    assert not any("pooler" in name for name in encoder.state_dict())


def test_encode_rejects_a_bare_string_and_non_strings(encoder):
    with pytest.raises(ConfigError, match="not one string"):
        encoder.encode("a caption")
    with pytest.raises(ConfigError, match="caption 1 is NoneType"):
        encoder.encode(["a", None])


@pytest.mark.skipif(not torch.accelerator.is_available(), reason="needs an accelerator (CPU is covered by every other test)")
def test_encoder_runs_on_the_accelerator(fresh_encoder):
    encoder = fresh_encoder
    encoder.eval()
    reference = encoder.encode(CAPTIONS)
    device = torch.accelerator.current_accelerator()
    encoder.to(device)
    out = encoder.encode(CAPTIONS)
    assert out.device.type == device.type
    torch.testing.assert_close(out.cpu(), reference, atol=2e-3, rtol=2e-3)
    embeddings, present = encode_captions(encoder, [None, CAPTIONS[0]])
    assert embeddings.device.type == present.device.type == device.type


# ---------------------------------------------------------------- encode_captions
def test_encode_captions_encodes_present_captions_in_one_batch(encoder):
    calls = []
    handle = encoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    try:
        captions = [None, CAPTIONS[0], "", CAPTIONS[1], "   "]
        embeddings, present = encode_captions(encoder, captions)
    finally:
        handle.remove()
    assert calls == [2]
    assert present.tolist() == [False, True, False, True, False]
    assert present.dtype == torch.bool and present.device == encoder.device
    assert embeddings.shape == (5, encoder.dim)
    assert torch.count_nonzero(embeddings[~present]) == 0
    torch.testing.assert_close(embeddings[present], encoder.encode([CAPTIONS[0], CAPTIONS[1]]))


def test_encode_captions_without_any_caption_skips_the_encoder(encoder):
    calls = []
    handle = encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        embeddings, present = encode_captions(encoder, [None, ""])
    finally:
        handle.remove()
    assert calls == [] and not present.any() and embeddings.shape == (2, encoder.dim)


def test_encode_captions_passes_gradients_to_a_fine_tuned_encoder():
    encoder = TinyBertEncoder()
    embeddings, _ = encode_captions(encoder, [None, "FocalLength: 35.0 mm"])
    embeddings.sum().backward()
    assert encoder.backbone.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_encode_captions_rejects_a_bare_string():
    with pytest.raises(ConfigError, match="list of captions"):
        encode_captions(TinyBertEncoder(), "FocalLength: 35.0 mm")


# ---------------------------------------------------------------- pooling
def test_masked_mean_ignores_padded_tokens():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(masked_mean(hidden, mask), torch.tensor([[2.0, 3.0]], dtype=torch.float64))
    assert masked_mean(hidden, torch.zeros(1, 3)).abs().sum() == 0  # no NaN on an all-padding row


# ---------------------------------------------------------------- MiniLM
def test_minilm_embeds_related_text_closer_than_unrelated(minilm_prototype):
    encoder = minilm_prototype
    assert encoder.dim == 384 and isinstance(encoder, MiniLMEncoder)
    hi, hello, canon_50, canon_55, dog = encoder.encode([
        "hi", "hello",
        "Make: Canon, Model: Canon EOS 5D, FocalLength: 50.0 mm",
        "Make: Canon, Model: Canon EOS 6D, FocalLength: 55.0 mm",
        "A dog running on a sunny beach",
    ])
    assert cosine(hi, hello) > 0.8
    assert cosine(canon_50, canon_55) > 0.8
    assert cosine(canon_50, dog) < 0.3


def test_minilm_matches_a_direct_transformers_mean_pool(minilm_prototype):
    from transformers import AutoModel, AutoTokenizer

    from recon3r.models.encoders.text.tokenizer import minilm_model_dir

    folder = minilm_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    batch = tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    reference = (hidden * mask).sum(1) / mask.sum(1)
    torch.testing.assert_close(minilm_prototype.encode(CAPTIONS), reference, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- local Hugging Face folders
@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_hf_folder_loads_back_the_saved_weights(hf_folders, kind):
    from transformers import AutoModel

    encoder = HFEncoder(hf_folders[kind]).eval()
    original = AutoModel.from_pretrained(hf_folders[kind], local_files_only=True).eval()
    input_ids, mask = encoder.tokenize(CAPTIONS)
    with torch.no_grad():
        reference = masked_mean(original(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask)
    torch.testing.assert_close(encoder.encode(CAPTIONS), reference)
    assert encoder.dim == original.config.hidden_size


def test_build_text_encoder_takes_a_folder_as_hf(hf_folders):
    encoder = build_text_encoder(hf_folders["distilbert"], max_length=16)
    assert isinstance(encoder, HFEncoder) and encoder.max_length == 16
    assert encoder.tokenize(["word " * 50])[0].shape == (1, 16)


def test_hf_encoder_errors_name_the_folder(tmp_path, hf_folders):
    with pytest.raises(ConfigError, match="does not exist"):
        HFEncoder(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="no config.json"):
        HFEncoder(tmp_path)
    from transformers import GPT2Config, GPT2Model

    GPT2Model(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=50)).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ConfigError, match="'gpt2' model; supported are the BERT family"):
        HFEncoder(tmp_path / "gpt2")


# ---------------------------------------------------------------- tiny BERT
def test_tiny_bert_is_deterministic_per_seed_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = TinyBertEncoder(seed=3), TinyBertEncoder(seed=3), TinyBertEncoder(seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.backbone.embeddings.word_embeddings.weight, c.backbone.embeddings.word_embeddings.weight)
    assert a.dim == 32 and sum(p.numel() for p in a.parameters()) < 1.1e6


# ---------------------------------------------------------------- registry
def test_registry_names_and_aliases_build_their_classes():
    assert set(TEXT_ENCODERS) == {"minilm", "hf", "exif_as_language", "tiny_bert"}
    assert isinstance(build_text_encoder("tiny", hidden_size=16, num_heads=2), TinyBertEncoder)
    assert isinstance(build_text_encoder("TINY_BERT"), TinyBertEncoder)


def test_build_text_encoder_takes_a_file_as_exif_as_language(exif_checkpoint, small_distilbert):
    path, _ = exif_checkpoint
    encoder = build_text_encoder(str(path), distilbert_config=small_distilbert)
    assert isinstance(encoder, ExifAsLanguageEncoder)


def test_build_text_encoder_rejects_unknown_names_and_arguments():
    with pytest.raises(ConfigError, match="unknown text encoder 'bart'"):
        build_text_encoder("bart")
    with pytest.raises(ConfigError, match=r"unknown argument\(s\) \['hidden'\]"):
        build_text_encoder("tiny_bert", hidden=8)
    with pytest.raises(ConfigError, match="give a text encoder name"):
        build_text_encoder()
