"""Text encoders that embed captions for the multimodal pair model (`recon3r.text` writes the captions).

`transformers` is imported only when a Hugging Face encoder is built, so importing this package stays cheap.
"""

from recon3r.models.encoders.text.encoders import (
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

__all__ = [
    "TEXT_ENCODERS",
    "ExifAsLanguageEncoder",
    "HFEncoder",
    "MiniLMEncoder",
    "TextEncoder",
    "TinyBertEncoder",
    "build_text_encoder",
    "encode_captions",
    "masked_mean",
]
