"""Pair models (DUSt3R-compatible), their layers and heads, a name registry and checkpoint I/O."""

from recon3r.models.checkpoint import convert_checkpoint, load_model, save_model
from recon3r.models.dust3r import (
    OFFICIAL_CONFIGS,
    TINY_CONFIGS,
    AsymmetricCroCo3DStereo,
    PairEncoding,
    checkpoint_filter_fn,
)
from recon3r.models.registry import build_model, get_model_class, list_models, register_model

__all__ = [
    "OFFICIAL_CONFIGS",
    "TINY_CONFIGS",
    "AsymmetricCroCo3DStereo",
    "AsymmetricCroCo3DStereoAndText",
    "PairEncoding",
    "build_model",
    "checkpoint_filter_fn",
    "convert_checkpoint",
    "get_model_class",
    "list_models",
    "load_model",
    "register_model",
    "save_model",
]


def __getattr__(name: str):
    # The multimodal model pulls in the text stack: import it only when asked for.
    if name == "AsymmetricCroCo3DStereoAndText":
        from recon3r.models.dust3r_text import AsymmetricCroCo3DStereoAndText

        return AsymmetricCroCo3DStereoAndText
    raise AttributeError(f"module 'recon3r.models' has no attribute {name!r}")
