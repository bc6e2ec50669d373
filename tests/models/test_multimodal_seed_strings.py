"""The multimodal seed's model strings: no `pos_embed` (CroCo's 'cosine') builds a position-free model
with a warning; `--exif_path` selects the Exif-as-Language text encoder."""

from __future__ import annotations

import pytest
import torch

from recon3r.errors import ConfigError, Recon3rWarning
from recon3r.models import load_model, save_model
from recon3r.models.checkpoint import parse_constructor
from recon3r.models.dust3r import AsymmetricCroCo3DStereo
from recon3r.models.dust3r_text import model_spec_for_exif_path
from recon3r.models.registry import build_model

TINY = ("enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2, "
        "img_size=(32, 48), head_type='linear', text_encoder_kwargs={'hidden_size': 16, 'num_layers': 1, "
        "'num_heads': 2, 'intermediate_size': 32}")


def seed_model(extra: str = "", fusion: str = "token"):
    name, kwargs = parse_constructor(f"AsymmetricCroCo3DStereoAndText({TINY}, fusion={fusion!r}{extra})")
    torch.manual_seed(0)
    return build_model(name, kwargs).eval()


def swap_patches(img: torch.Tensor) -> torch.Tensor:
    """Exchange the 16×16 patches at grid (0, 0) and (1, 2) of (B, 3, 32, 48) images."""
    out = img.clone()
    out[..., 0:16, 0:16], out[..., 16:32, 32:48] = img[..., 16:32, 32:48], img[..., 0:16, 0:16]
    return out


@pytest.mark.parametrize("fusion", ["token", "film"])
def test_string_without_pos_embed_warns_and_has_no_positional_information(fusion):
    with pytest.warns(Recon3rWarning, match=r"no positional information at all.*pos_embed='RoPE100'"):
        model = seed_model(fusion=fusion)
    assert model.config["pos_embed"] == "none"
    g = torch.Generator().manual_seed(1)
    img1, img2 = torch.rand(2, 3, 32, 48, generator=g), torch.rand(2, 3, 32, 48, generator=g)
    captions = {"caption": ["Make: Canon, FocalLength: 35.0 mm", None]}
    with torch.no_grad():
        a1, a2 = model({"img": img1, **captions}, {"img": img2, **captions})
        b1, b2 = model({"img": swap_patches(img1), **captions}, {"img": img2, **captions})
    # Without positions, moving two patches of view 1 only moves their outputs.
    torch.testing.assert_close(b1["pts3d"], swap_patches(a1["pts3d"].permute(0, 3, 1, 2)).permute(0, 2, 3, 1),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b2["pts3d_in_other_view"], a2["pts3d_in_other_view"], atol=1e-5, rtol=1e-5)


def test_rope_string_keeps_positions():
    model = seed_model(", pos_embed='RoPE100'")
    g = torch.Generator().manual_seed(1)
    img1, img2 = torch.rand(1, 3, 32, 48, generator=g), torch.rand(1, 3, 32, 48, generator=g)
    with torch.no_grad():
        _, a2 = model({"img": img1}, {"img": img2})
        _, b2 = model({"img": swap_patches(img1)}, {"img": img2})
    assert float((a2["pts3d_in_other_view"] - b2["pts3d_in_other_view"]).abs().max()) > 1e-4


def test_position_free_model_round_trips_without_a_new_warning(tmp_path, recwarn):
    with pytest.warns(Recon3rWarning):
        model = seed_model()
    save_model(model, tmp_path / "m")
    recwarn.clear()
    loaded = load_model(tmp_path / "m")
    assert loaded.config["pos_embed"] == "none"
    assert not [w for w in recwarn if issubclass(w.category, Recon3rWarning)]


def test_the_pair_model_still_refuses_cosine_as_dust3r_does():
    with pytest.raises(ConfigError, match="pos_embed='cosine' is not supported"):
        AsymmetricCroCo3DStereo(pos_embed="cosine", enc_embed_dim=32, enc_depth=1, enc_num_heads=2,
                                dec_embed_dim=32, dec_depth=1, dec_num_heads=2)


def test_exif_path_selects_the_exif_text_encoder(capsys):
    spec = "AsymmetricCroCo3DStereoAndText(enc_embed_dim=32, pos_embed='RoPE100', text_encoder_kwargs={'max_length': 64})"
    rewritten = model_spec_for_exif_path(spec, "exif.pth")
    name, kwargs = parse_constructor(rewritten)
    assert kwargs["text_encoder"] == "exif" and kwargs["text_encoder_kwargs"] == {"max_length": 64}
    assert kwargs["enc_embed_dim"] == 32 and kwargs["pos_embed"] == "RoPE100"
    assert "info: --exif_path exif.pth: using the Exif-as-Language text encoder" in capsys.readouterr().out
    # Unchanged: no --exif_path, an explicit exif encoder, or a model without text parts.
    assert model_spec_for_exif_path(spec, "") == spec
    explicit = spec.replace("pos_embed", "text_encoder='exif', pos_embed")
    assert model_spec_for_exif_path(explicit, "exif.pth") == explicit
    pair = "AsymmetricCroCo3DStereo(pos_embed='RoPE100')"
    assert model_spec_for_exif_path(pair, "exif.pth") == pair


def test_exif_path_with_another_named_encoder_is_refused():
    with pytest.raises(ConfigError, match=r"--model names text_encoder='minilm'; drop text_encoder"):
        model_spec_for_exif_path("AsymmetricCroCo3DStereoAndText(text_encoder='minilm')", "exif.pth")
