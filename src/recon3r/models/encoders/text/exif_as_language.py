"""The Exif-as-Language checkpoint (`--exif_path`): reading it and mapping its text tower.

Layout of the file (hellomuffin/exif-as-language, MIT):

- a `torch.save`d dict; the weights are the state dict under the key `model` (other keys, such
  as training bookkeeping, are ignored). It is read with the restricted `weights_only`
  unpickler, so a pickle that needs anything but tensors and containers is refused unrun.
- the state dict is that of a CLIP wrapper whose towers were replaced:
  - `model.transformer.<k>`: a Hugging Face `DistilBertModel` built from the default
    `DistilBertConfig()` (6 layers, hidden 768, 12 heads, vocab 30522, 512 positions);
    `<k>` is exactly a key of `DistilBertModel(DistilBertConfig()).state_dict()`, e.g.
    `model.transformer.embeddings.word_embeddings.weight` or
    `model.transformer.transformer.layer.0.attention.q_lin.weight`;
  - `model.visual.*`: a ResNet-50 image tower (fc 2048 -> 768), not needed for captions;
  - CLIP text leftovers under `model.` (`token_embedding.weight`, `positional_embedding`,
    `ln_final.*`, `text_projection`, `logit_scale`) and the top-level `sink_temp`: unused.
  A `module.` prefix on every key (a DataParallel save) is stripped first.

The caption embedding is the DistilBERT last hidden state mean-pooled over the attention mask:
768-d, no projection, no normalisation (see `recon3r.models.encoders.text.encoders.ExifAsLanguageEncoder`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from recon3r.errors import CheckpointError
from recon3r.models.checkpoint import key_mismatch, name_list

TEXT_TOWER_PREFIX = "model.transformer."
# Non-persistent buffers that older transformers versions saved; they are rebuilt, not loaded.
_IGNORED_TOWER_KEYS = frozenset({"embeddings.position_ids"})


def read_exif_as_language_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The wrapper state dict of an Exif-as-Language checkpoint, read with the restricted unpickler.

    Accepts the training file (`{"model": state_dict, ...}`) or a bare state dict. Raises
    `CheckpointError` naming the file when it is missing, unsafe or not of that form.
    """
    from recon3r.models.checkpoint import restricted_torch_load

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Exif-as-Language checkpoint {path} does not exist")
    data = restricted_torch_load(path)
    if isinstance(data, Mapping) and isinstance(data.get("model"), Mapping):
        data = data["model"]
    if not isinstance(data, Mapping) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in data.items()):
        raise CheckpointError(
            f"{path}: not an Exif-as-Language checkpoint: expected a dict with the state dict under 'model'"
        )
    return dict(data)


def exif_state_dict_to_distilbert(
    state_dict: Mapping[str, torch.Tensor],
    expected_keys: Iterable[str] | None = None,
    source: str = "Exif-as-Language checkpoint",
) -> dict[str, torch.Tensor]:
    """Map the wrapper state dict to the state dict of its `DistilBertModel` text tower.

    Keeps the `model.transformer.*` keys without that prefix and drops everything else (the
    image tower, CLIP leftovers). With `expected_keys` (a DistilBertModel's `state_dict()` keys)
    missing or unexpected tower keys raise `CheckpointError` listing them. Pure: tensors are
    not copied.
    """
    keys = list(state_dict)
    if keys and all(k.startswith("module.") for k in keys):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    tower = {
        k[len(TEXT_TOWER_PREFIX) :]: v
        for k, v in state_dict.items()
        if k.startswith(TEXT_TOWER_PREFIX) and k[len(TEXT_TOWER_PREFIX) :] not in _IGNORED_TOWER_KEYS
    }
    if not tower:
        prefixes = sorted({".".join(k.split(".")[:2]) for k in state_dict})
        raise CheckpointError(
            f"{source}: no text tower: no key starts with {TEXT_TOWER_PREFIX!r} "
            f"(found prefixes {name_list(prefixes)})"
        )
    if expected_keys is not None:
        expected = {k for k in expected_keys if k not in _IGNORED_TOWER_KEYS}
        missing = sorted(expected - set(tower))
        unexpected = sorted(set(tower) - expected)
        if missing or unexpected:
            raise CheckpointError(
                f"{source}: the text tower does not match DistilBertModel: "
                + key_mismatch([TEXT_TOWER_PREFIX + k for k in missing], [TEXT_TOWER_PREFIX + k for k in unexpected],
                               "key(s)")
            )
    return tower

