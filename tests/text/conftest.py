"""Shared, load-once fixtures: MiniLM, tiny Hugging Face folders, a synthetic Exif-as-Language file."""

from __future__ import annotations

import copy

import pytest
import torch

# A small DistilBERT with the real vocabulary, standing in for the 768-d default in fast tests.
SMALL_DISTILBERT = {"dim": 32, "hidden_dim": 64, "n_layers": 2, "n_heads": 2, "max_position_embeddings": 64}

FAKE_WRAPPER_LEFTOVERS = {
    "model.visual.conv1.weight": (8, 3, 3, 3),
    "model.visual.fc.weight": (16, 32),
    "model.visual.fc.bias": (16,),
    "model.token_embedding.weight": (10, 8),
    "model.positional_embedding": (7, 8),
    "model.ln_final.weight": (8,),
    "model.ln_final.bias": (8,),
    "model.text_projection": (8, 8),
    "model.logit_scale": (),
    "sink_temp": (),
}


def exif_wrapper_state_dict(tower: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The Exif-as-Language wrapper layout around a DistilBertModel `tower`."""
    state = {f"model.transformer.{k}": v for k, v in tower.state_dict().items()}
    state.update({k: torch.randn(shape) for k, shape in FAKE_WRAPPER_LEFTOVERS.items()})
    return state


@pytest.fixture(scope="session")
def make_exif_wrapper():
    """`exif_wrapper_state_dict`, for tests (helpers reach tests only through fixtures)."""
    return exif_wrapper_state_dict


@pytest.fixture(scope="session")
def wrapper_leftovers() -> dict[str, tuple[int, ...]]:
    return dict(FAKE_WRAPPER_LEFTOVERS)


@pytest.fixture(scope="session")
def small_distilbert() -> dict:
    return dict(SMALL_DISTILBERT)


@pytest.fixture(scope="session")
def minilm_prototype():
    from recon3r.models.encoders.text import MiniLMEncoder

    return MiniLMEncoder().eval()


@pytest.fixture(scope="session")
def hf_folders(tmp_path_factory):
    """Tiny random BERT and DistilBERT saved as Hugging Face folders with the MiniLM tokenizer."""
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

    from recon3r.models.encoders.text.tokenizer import load_tokenizer

    root = tmp_path_factory.mktemp("hf")
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    models = {
        "bert": BertModel(BertConfig(vocab_size=30522, hidden_size=24, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=48, max_position_embeddings=128)),
        "distilbert": DistilBertModel(DistilBertConfig(**SMALL_DISTILBERT)),
    }
    folders = {}
    for name, model in models.items():
        folder = root / name
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[name] = folder
    return folders


@pytest.fixture(scope="session")
def exif_checkpoint(tmp_path_factory):
    """(path, tower): a torch.save'd {"model": wrapper state dict, ...} around a small random DistilBERT."""
    from transformers import DistilBertConfig, DistilBertModel

    torch.manual_seed(1)
    tower = DistilBertModel(DistilBertConfig(**SMALL_DISTILBERT)).eval()
    path = tmp_path_factory.mktemp("exif") / "exif_as_language.pth"
    torch.save({"model": exif_wrapper_state_dict(tower), "epoch": 3, "lr": 1e-4}, path)
    return path, tower


ENCODER_KINDS = ["minilm", "hf_bert", "hf_distilbert", "exif_as_language", "tiny_bert"]


@pytest.fixture(scope="session")
def encoder_prototypes(request):
    return {}


@pytest.fixture(params=ENCODER_KINDS)
def encoder(request, encoder_prototypes):
    """The shared encoder of every kind, in eval mode, for tests that do not change it."""
    from recon3r.models.encoders.text import ExifAsLanguageEncoder, HFEncoder, TinyBertEncoder

    kind = request.param
    if kind not in encoder_prototypes:
        if kind == "minilm":
            encoder_prototypes[kind] = request.getfixturevalue("minilm_prototype")
        elif kind.startswith("hf_"):
            encoder_prototypes[kind] = HFEncoder(request.getfixturevalue("hf_folders")[kind[3:]])
        elif kind == "exif_as_language":
            path, _ = request.getfixturevalue("exif_checkpoint")
            encoder_prototypes[kind] = ExifAsLanguageEncoder(path, distilbert_config=SMALL_DISTILBERT)
        else:
            encoder_prototypes[kind] = TinyBertEncoder()
    return encoder_prototypes[kind].eval()


@pytest.fixture
def fresh_encoder(encoder):
    """A deep copy of `encoder` that a test may freeze, train, move or hook."""
    return copy.deepcopy(encoder)
