"""The Exif-as-Language checkpoint: state-dict mapping, safe loading, the loaded text tower."""

from __future__ import annotations

import pytest
import torch

from recon3r.errors import CheckpointError, ConfigError
from recon3r.models.encoders.text import ExifAsLanguageEncoder, masked_mean
from recon3r.models.encoders.text.exif_as_language import (
    exif_state_dict_to_distilbert,
    read_exif_as_language_state_dict,
)


def test_mapping_keeps_exactly_the_text_tower_without_its_prefix(exif_checkpoint, make_exif_wrapper):
    _, tower = exif_checkpoint
    wrapper = make_exif_wrapper(tower)
    mapped = exif_state_dict_to_distilbert(wrapper, tower.state_dict().keys())
    assert set(mapped) == set(tower.state_dict())
    for key, value in mapped.items():
        assert value is wrapper[f"model.transformer.{key}"]  # pure: no copies
    assert not any(k.startswith(("visual", "model.")) for k in mapped)


def test_mapping_strips_a_dataparallel_prefix_and_ignores_saved_position_ids(exif_checkpoint, make_exif_wrapper):
    _, tower = exif_checkpoint
    wrapper = make_exif_wrapper(tower)
    wrapper["model.transformer.embeddings.position_ids"] = torch.arange(64)[None]
    prefixed = {f"module.{k}": v for k, v in wrapper.items()}
    mapped = exif_state_dict_to_distilbert(prefixed, tower.state_dict().keys())
    assert set(mapped) == set(tower.state_dict())


def test_mapping_lists_missing_and_unexpected_tower_keys(exif_checkpoint, make_exif_wrapper):
    _, tower = exif_checkpoint
    wrapper = make_exif_wrapper(tower)
    del wrapper["model.transformer.transformer.layer.1.ffn.lin2.bias"]
    wrapper["model.transformer.transformer.layer.9.ffn.lin2.bias"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        exif_state_dict_to_distilbert(wrapper, tower.state_dict().keys(), source="ckpt.pth")
    message = str(info.value)
    assert "ckpt.pth" in message
    assert "missing 1 key(s): model.transformer.transformer.layer.1.ffn.lin2.bias" in message
    assert "unexpected 1 key(s): model.transformer.transformer.layer.9.ffn.lin2.bias" in message


def test_mapping_without_a_text_tower_names_what_it_found(wrapper_leftovers):
    wrapper = {k: torch.zeros(shape) for k, shape in wrapper_leftovers.items()}
    with pytest.raises(CheckpointError, match=r"no key starts with 'model.transformer.'.*model.visual"):
        exif_state_dict_to_distilbert(wrapper)


def test_default_layout_is_a_768d_distilbert_on_the_meta_device(make_exif_wrapper):
    from transformers import DistilBertConfig, DistilBertModel

    with torch.device("meta"):
        tower = DistilBertModel(DistilBertConfig())
        encoder = ExifAsLanguageEncoder()
    wrapper = make_exif_wrapper(tower)
    mapped = exif_state_dict_to_distilbert(wrapper, encoder.backbone.state_dict().keys())
    assert len(mapped) == 100  # embeddings (4) + 6 layers x 16
    assert mapped["embeddings.word_embeddings.weight"].shape == (30522, 768)
    assert mapped["embeddings.position_embeddings.weight"].shape == (512, 768)
    assert encoder.dim == 768 and encoder.max_length == 512
    assert sum(p.numel() for p in encoder.parameters()) == 66_362_880  # distilbert-base-uncased


def test_loaded_encoder_is_the_mean_pooled_tower(exif_checkpoint, small_distilbert):
    path, tower = exif_checkpoint
    encoder = ExifAsLanguageEncoder(path, distilbert_config=small_distilbert).eval()
    captions = ["Make: Canon, Model: Canon EOS 5D, FocalLength: 50.0 mm", "ISOSpeedRatings: 100"]
    input_ids, mask = encoder.tokenize(captions)
    with torch.no_grad():
        reference = masked_mean(tower(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask)
    torch.testing.assert_close(encoder.encode(captions), reference)
    assert encoder.dim == small_distilbert["dim"]


def test_a_bare_state_dict_file_loads_too(tmp_path, exif_checkpoint, small_distilbert, make_exif_wrapper):
    _, tower = exif_checkpoint
    path = tmp_path / "bare.pt"
    torch.save(make_exif_wrapper(tower), path)
    encoder = ExifAsLanguageEncoder(path, distilbert_config=small_distilbert)
    torch.testing.assert_close(encoder.backbone.embeddings.word_embeddings.weight, tower.embeddings.word_embeddings.weight)


class _Payload:
    """Pickles to a call of `open(marker, "w")`: running it would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"model": {"model.transformer.x": torch.zeros(1)}, "payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        ExifAsLanguageEncoder(path)
    assert not marker.exists()


def test_checkpoint_errors_name_the_file(tmp_path, exif_checkpoint, small_distilbert):
    with pytest.raises(CheckpointError, match="nowhere.pth does not exist"):
        read_exif_as_language_state_dict(tmp_path / "nowhere.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        read_exif_as_language_state_dict(junk)
    listing = tmp_path / "list.pth"
    torch.save([1, 2, 3], listing)
    with pytest.raises(CheckpointError, match="list.pth: not an Exif-as-Language checkpoint"):
        read_exif_as_language_state_dict(listing)
    path, _ = exif_checkpoint
    wrong = dict(small_distilbert, dim=16, hidden_dim=32)
    with pytest.raises(CheckpointError, match="does not fit DistilBertModel"):
        ExifAsLanguageEncoder(path, distilbert_config=wrong)


def test_bad_distilbert_config_is_a_config_error():
    with pytest.raises(ConfigError, match="distilbert_config"):
        ExifAsLanguageEncoder(distilbert_config={"dim": 30, "n_heads": 4})
