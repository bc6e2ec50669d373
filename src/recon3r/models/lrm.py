"""OpenLRM's single-image large reconstruction model (`ModelLRM`, OpenLRM v1.1; Hong et al., ICLR 2024).

Top-down (`ModelLRM.forward`):
1. `encoder`: a DINOv2 ViT with registers (`recon3r.models.encoders.DinoV2Encoder`) turns the
   image (RGB in [0, 1], no mean/std normalisation) into condition tokens [CLS, patches];
2. `camera_embedder`: the source camera vector (16 values) → an embedding that modulates every
   LayerNorm of the triplane transformer;
3. `transformer`: learned triplane tokens `pos_embed` (1, 3·L², D) cross-attend to the image
   tokens and self-attend (`recon3r.models.layers.modulation`), then `upsampler` (a stride-2
   transposed convolution) makes the triplane (N, 3, C, 2L, 2L);
4. `synthesizer`: rays of the render cameras through the triplane NeRF (`OSGDecoder`), rendered by
   `recon3r.models.renderers.render_rays` (coarse + importance samples).

Camera vectors (OpenLRM's layout; cam-to-world in OpenGL / Blender axes: x right, y up, looking
along −z; world z up; intrinsics normalised by the image width / height):
- source (N, 16): the 3 × 4 [R | t] row-major, then fx, fy, cx, cy (`source_camera_vector`);
- render (N, M, 25): the 4 × 4 cam-to-world row-major, then the 3 × 3 K row-major
  (`render_camera_vector`). Each view renders an R × R crop (`render_region_size`) of an S × S
  image (`render_resolutions`) at `render_anchors` (row, col) over a grey `render_bg_colors`.

Parameter names and constructor keywords are the official ones, so released folders
(`zxhezexin/openlrm-{obj,mix}-{small,base,large}-1.1`: a config.json of these keywords and
model.safetensors) load unchanged (`openlrm_config_kwargs` reads their config.json). The encoder
is named by `encoder_model_name` (`DINOV2_ARCHS`); `encoder_arch` (a recon3r extension) describes
any other DINOv2. `triplane_high_res` is stored but unused (the triplane is always 2L wide), as in
the reference. OpenLRM v1.0's `encoder_type='dino'` (a transformers ViT) is not supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from recon3r.errors import ConfigError
from recon3r.geometry.cameras import opencv_opengl_pose
from recon3r.geometry.rays import pixel_rays, region_pixel_centers
from recon3r.models.encoders.dinov2 import DinoV2Encoder, resolve_dinov2_arch
from recon3r.models.layers.modulation import ModulatedTransformer
from recon3r.models.layers.triplane import OSGDecoder, sample_triplane
from recon3r.models.registry import register_model
from recon3r.models.renderers.importance import Field, density_activation, render_rays

SOURCE_CAMERA_DIM = 12 + 4
RENDER_CAMERA_DIM = 16 + 9


# ------------------------------------------------------------------------------------------- blocks
class CameraEmbedder(nn.Module):
    """Source camera vector (N, 16) → embedding (N, E): Linear, SiLU, Linear (`mlp.0`, `mlp.2`)."""

    def __init__(self, raw_dim: int, embed_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(raw_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))

    def forward(self, camera: Tensor) -> Tensor:
        return self.mlp(camera)


class TriplaneSynthesizer(nn.Module):
    """Triplane NeRF: the `decoder` MLP and the importance renderer over the [-1, 1]³ box.

    `samples_per_ray` splits into D = samples_per_ray // 2 coarse and as many fine samples.
    """

    def __init__(self, triplane_dim: int, samples_per_ray: int):
        super().__init__()
        self.coarse_samples = samples_per_ray // 2
        self.fine_samples = samples_per_ray // 2
        self.decoder = OSGDecoder(triplane_dim)

    def field(self, planes: Tensor) -> Field:
        """The raw field of planes (B, 3, C, H, W): points (B, P, 3) → (rgb (B, P, 3), raw density (B, P, 1)).

        The outputs come in the points' dtype: under autocast (mixed-precision training) the MLP runs in
        half precision but the renderer composites in float32 (its out-of-box density overflows float16).
        """
        def query(points: Tensor) -> tuple[Tensor, Tensor]:
            rgb, sigma = self.decoder(sample_triplane(planes, points))
            return rgb.to(points.dtype), sigma.to(points.dtype)

        return query

    def forward(self, planes: Tensor, cameras: Tensor, anchors: Tensor, resolutions: Tensor, bg_colors: Tensor,
                region_size: int, *, stratified_noise: Tensor | None = None, importance_noise: Tensor | None = None,
                return_samples: bool = False) -> dict[str, Tensor]:
        """Render M views of each of N triplanes.

        planes (N, 3, C, H, W); cameras (N, M, 25); anchors (N, M, 2); resolutions (N, M, 1);
        bg_colors (N, M, 1) grey (or (N, M, 3)); region_size R. Noise (see `render_rays`):
        stratified (N·M, R², D, 1), importance (N·M·R², D). Returns `images_rgb` (N, M, 3, R, R),
        `images_depth` and `images_weight` (N, M, 1, R, R); with `return_samples` also
        `ray_origins`, `ray_directions` (N·M, R², 3), `depths_coarse` and `depths_fine`.
        """
        N, M = cameras.shape[:2]
        if cameras.shape[-1] != RENDER_CAMERA_DIM:
            raise ValueError(f"render cameras must be (N, M, {RENDER_CAMERA_DIM}), got {tuple(cameras.shape)}")
        if not planes.shape[0] == anchors.shape[0] == N or anchors.shape[1] != M:
            raise ValueError(f"batch mismatch: planes {tuple(planes.shape)}, cameras {tuple(cameras.shape)}, "
                             f"anchors {tuple(anchors.shape)}")
        with torch.autocast(cameras.device.type, enabled=False):  # rays in the cameras' precision, never half
            world_from_cam = opencv_opengl_pose(cameras[..., :16].reshape(N * M, 4, 4))
            intrinsics = cameras[..., 16:].reshape(N * M, 3, 3)
            pixels = region_pixel_centers(resolutions.reshape(N * M), anchors.reshape(N * M, 2), region_size)
            origins, directions = pixel_rays(world_from_cam, intrinsics, pixels.to(cameras.dtype))
        out = render_rays(self.field(planes.repeat_interleave(M, dim=0)), origins, directions,
                          bg_colors.reshape(N * M, -1), coarse_samples=self.coarse_samples,
                          fine_samples=self.fine_samples, stratified_noise=stratified_noise,
                          importance_noise=importance_noise)
        R = region_size
        images = {f"images_{name}": out[key].permute(0, 2, 1).reshape(N, M, -1, R, R)
                  for name, key in (("rgb", "rgb"), ("depth", "depth"), ("weight", "weight"))}
        if return_samples:
            images.update(ray_origins=origins, ray_directions=directions, depths_coarse=out["depths_coarse"])
            if "depths_fine" in out:
                images["depths_fine"] = out["depths_fine"]
        return images

    def forward_points(self, planes: Tensor, points: Tensor, chunk_size: int = 2 ** 20) -> dict[str, Tensor]:
        """Activated density `sigma` (N, P, 1) and `rgb` (N, P, 3) at points (N, P, 3) (no box mask)."""
        field = self.field(planes)
        rgbs, sigmas = [], []
        for start in range(0, points.shape[1], chunk_size):
            rgb, sigma = field(points[:, start:start + chunk_size])
            rgbs.append(rgb)
            sigmas.append(density_activation(sigma))
        return {"sigma": torch.cat(sigmas, dim=1), "rgb": torch.cat(rgbs, dim=1)}

    def forward_grid(self, planes: Tensor, grid_size: int, chunk_size: int = 2 ** 20) -> dict[str, Tensor]:
        """`forward_points` on a G³ grid of [-1, 1]³ (linspace per axis, 'ij' indexing).

        Returns `sigma` (N, G, G, G, 1) and `rgb` (N, G, G, G, 3); [n, i, j, k] is (x_i, y_j, z_k).
        """
        axis = torch.linspace(-1, 1, grid_size, dtype=planes.dtype, device=planes.device)
        grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(1, -1, 3)
        out = self.forward_points(planes, grid.expand(planes.shape[0], -1, -1), chunk_size)
        return {k: v.reshape(planes.shape[0], grid_size, grid_size, grid_size, -1) for k, v in out.items()}


# -------------------------------------------------------------------------------------------- model
@register_model
class ModelLRM(nn.Module):
    """Image + source camera → triplane → rendered views. Keyword arguments are OpenLRM's.

    `encoder_arch`: DinoV2Config fields of the encoder when `encoder_model_name` is not one of
    `recon3r.models.encoders.DINOV2_ARCHS` (e.g. test encoders); None for the named ones.
    `encoder_freeze`: the encoder runs in eval mode and gets no gradients.
    """

    task_name = "single_image"
    tiny_config: dict[str, Any] = {
        "camera_embed_dim": 16, "rendering_samples_per_ray": 8, "transformer_dim": 32, "transformer_layers": 1,
        "transformer_heads": 2, "triplane_low_res": 4, "triplane_high_res": 8, "triplane_dim": 8,
        "encoder_freeze": False, "encoder_type": "dinov2", "encoder_model_name": "dinov2_tiny14_reg",
        "encoder_feat_dim": 32,
        "encoder_arch": {"img_size": 28, "patch_size": 14, "embed_dim": 32, "depth": 1, "num_heads": 2},
    }

    def __init__(self, camera_embed_dim: int, rendering_samples_per_ray: int, transformer_dim: int,
                 transformer_layers: int, transformer_heads: int, triplane_low_res: int, triplane_high_res: int,
                 triplane_dim: int, encoder_freeze: bool = True, encoder_type: str = "dinov2",
                 encoder_model_name: str = "dinov2_vitb14_reg", encoder_feat_dim: int = 768,
                 encoder_arch: Mapping[str, Any] | None = None):
        super().__init__()
        official = dict(camera_embed_dim=camera_embed_dim, rendering_samples_per_ray=rendering_samples_per_ray,
                        transformer_dim=transformer_dim, transformer_layers=transformer_layers,
                        transformer_heads=transformer_heads, triplane_low_res=triplane_low_res,
                        triplane_high_res=triplane_high_res, triplane_dim=triplane_dim, encoder_freeze=encoder_freeze,
                        encoder_type=encoder_type, encoder_model_name=encoder_model_name,
                        encoder_feat_dim=encoder_feat_dim)
        _check_config(official)
        arch = resolve_dinov2_arch(encoder_model_name, encoder_arch)
        if arch.embed_dim != encoder_feat_dim:
            raise ConfigError(f"encoder_feat_dim {encoder_feat_dim} does not match the width {arch.embed_dim} of "
                              f"encoder {encoder_model_name!r}")
        self.config = {**official, **({"encoder_arch": dict(encoder_arch)} if encoder_arch is not None else {})}
        self.encoder_feat_dim = encoder_feat_dim
        self.camera_embed_dim = camera_embed_dim
        self.triplane_low_res = triplane_low_res
        self.triplane_high_res = triplane_high_res
        self.triplane_dim = triplane_dim

        self.encoder = DinoV2Encoder(arch, freeze=encoder_freeze)
        self.camera_embedder = CameraEmbedder(SOURCE_CAMERA_DIM, camera_embed_dim)
        self.pos_embed = nn.Parameter(torch.randn(1, 3 * triplane_low_res ** 2, transformer_dim) * transformer_dim ** -0.5)
        self.transformer = ModulatedTransformer(transformer_layers, transformer_dim, encoder_feat_dim, camera_embed_dim,
                                                transformer_heads)
        self.upsampler = nn.ConvTranspose2d(transformer_dim, triplane_dim, kernel_size=2, stride=2)
        self.synthesizer = TriplaneSynthesizer(triplane_dim, rendering_samples_per_ray)

    def set_freeze(self, freeze: str) -> None:
        """'none': train everything; 'encoder': the DINOv2 encoder in eval mode without gradients, as
        `encoder_freeze=True` builds it (`recon3r train --freeze_encoder`). The saved config keeps its kwargs."""
        if freeze not in ("none", "encoder"):
            raise ConfigError(f"ModelLRM: freeze={freeze!r} is unknown (known: none, encoder)")
        self.encoder.set_frozen(freeze == "encoder")

    @property
    def patch_size(self) -> int:
        return self.encoder.model.arch.patch_size

    def forward(self, image: Tensor, source_camera: Tensor, render_cameras: Tensor, render_anchors: Tensor,
                render_resolutions: Tensor, render_bg_colors: Tensor, render_region_size: int, *,
                stratified_noise: Tensor | None = None, importance_noise: Tensor | None = None) -> dict[str, Tensor]:
        """image (N, 3, S, S) in [0, 1], source_camera (N, 16), render inputs as `TriplaneSynthesizer`.

        Returns `planes` (N, 3, C, 2L, 2L), `images_rgb` (N, M, 3, R, R), `images_depth` and
        `images_weight` (N, M, 1, R, R). Differentiable; the render noise is drawn when not given.
        """
        if not image.shape[0] == source_camera.shape[0] == render_cameras.shape[0]:
            raise ValueError(f"batch mismatch: image {tuple(image.shape)}, source_camera {tuple(source_camera.shape)}, "
                             f"render_cameras {tuple(render_cameras.shape)}")
        planes = self.forward_planes(image, source_camera)
        rendered = self.synthesizer(planes, render_cameras, render_anchors, render_resolutions, render_bg_colors,
                                    render_region_size, stratified_noise=stratified_noise,
                                    importance_noise=importance_noise)
        return {"planes": planes, **rendered}

    # -- stages --------------------------------------------------------------------------------------
    def forward_planes(self, image: Tensor, source_camera: Tensor) -> Tensor:
        """image (N, 3, S, S) in [0, 1], source_camera (N, 16) → triplane (N, 3, C, 2L, 2L)."""
        if source_camera.ndim != 2 or source_camera.shape[-1] != SOURCE_CAMERA_DIM:
            raise ValueError(f"source_camera must be (N, {SOURCE_CAMERA_DIM}), got {tuple(source_camera.shape)}")
        tokens = self.forward_transformer(self.encoder(image), self.camera_embedder(source_camera))
        return self.reshape_upsample(tokens)

    def forward_transformer(self, image_feats: Tensor, camera_embeddings: Tensor) -> Tensor:
        """Condition tokens (N, T, D_enc), camera embeddings (N, E) → triplane tokens (N, 3·L², D)."""
        x = self.pos_embed.expand(image_feats.shape[0], -1, -1)
        return self.transformer(x, cond=image_feats, mod=camera_embeddings)

    def reshape_upsample(self, tokens: Tensor) -> Tensor:
        """Tokens (N, 3·L², D), read as (plane, row, col) → planes (N, 3, C, 2L, 2L)."""
        N, _, D = tokens.shape
        L = self.triplane_low_res
        grid = tokens.reshape(N, 3, L, L, D).permute(0, 1, 4, 2, 3).reshape(N * 3, D, L, L)
        planes = self.upsampler(grid)
        return planes.reshape(N, 3, *planes.shape[1:])


def _check_config(kwargs: Mapping[str, Any]) -> None:
    for name in ("camera_embed_dim", "rendering_samples_per_ray", "transformer_dim", "transformer_layers",
                 "transformer_heads", "triplane_low_res", "triplane_high_res", "triplane_dim", "encoder_feat_dim"):
        value = kwargs[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"ModelLRM {name} must be a positive integer, got {value!r}")
    if kwargs["transformer_dim"] % kwargs["transformer_heads"]:
        raise ConfigError(f"ModelLRM transformer_dim {kwargs['transformer_dim']} is not divisible by "
                          f"transformer_heads {kwargs['transformer_heads']}")
    if kwargs["rendering_samples_per_ray"] < 8:
        raise ConfigError("ModelLRM rendering_samples_per_ray must be at least 8 (importance sampling needs 4 coarse "
                          f"samples per ray), got {kwargs['rendering_samples_per_ray']}")
    if str(kwargs["encoder_type"]).lower() != "dinov2":
        raise ConfigError(f"ModelLRM encoder_type {kwargs['encoder_type']!r} is not supported: only 'dinov2' "
                          "(OpenLRM v1.1); v1.0's 'dino' encoder is not")


# ------------------------------------------------------------------------------------- camera vectors
def normalized_intrinsics(principles: Tensor) -> Tensor:
    """OpenLRM's raw intrinsics (..., 3, 2) [[fx, fy], [cx, cy], [width, height]] (pixels) →
    (..., 3, 3) K normalised by the image size."""
    fx, fy = principles[..., 0, 0] / principles[..., 2, 0], principles[..., 0, 1] / principles[..., 2, 1]
    cx, cy = principles[..., 1, 0] / principles[..., 2, 0], principles[..., 1, 1] / principles[..., 2, 1]
    K = torch.zeros(*principles.shape[:-2], 3, 3, dtype=principles.dtype, device=principles.device)
    K[..., 0, 0], K[..., 1, 1], K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = fx, fy, cx, cy, 1
    return K


def source_camera_vector(cam2world_gl: Tensor, intrinsics: Tensor) -> Tensor:
    """(..., 16) source camera: cam2world_gl (..., 3 or 4, 4) OpenGL axes, intrinsics (..., 3, 3) normalised."""
    pose = cam2world_gl[..., :3, :].flatten(-2)
    principal = torch.stack((intrinsics[..., 0, 0], intrinsics[..., 1, 1], intrinsics[..., 0, 2],
                             intrinsics[..., 1, 2]), dim=-1)
    return torch.cat((pose, principal.to(pose.dtype)), dim=-1)


def render_camera_vector(cam2world_gl: Tensor, intrinsics: Tensor) -> Tensor:
    """(..., 25) render camera: cam2world_gl (..., 3 or 4, 4) OpenGL axes, intrinsics (..., 3, 3) normalised."""
    if cam2world_gl.shape[-2] == 3:
        bottom = torch.zeros_like(cam2world_gl[..., :1, :])
        bottom[..., 0, 3] = 1
        cam2world_gl = torch.cat((cam2world_gl, bottom), dim=-2)
    return torch.cat((cam2world_gl.flatten(-2), intrinsics.to(cam2world_gl.dtype).flatten(-2)), dim=-1)


# ------------------------------------------------------------------------------- released configs
#: The released OpenLRM v1.1 configurations (`openlrm-{obj,mix}-{small,base,large}-1.1`).
OPENLRM_CONFIGS: dict[str, dict[str, Any]] = {
    name: {"camera_embed_dim": 1024, "rendering_samples_per_ray": samples, "transformer_dim": dim,
           "transformer_layers": layers, "transformer_heads": heads, "triplane_low_res": 32, "triplane_high_res": 64,
           "triplane_dim": triplane_dim, "encoder_freeze": False, "encoder_type": "dinov2",
           "encoder_model_name": encoder, "encoder_feat_dim": 384 if encoder == "dinov2_vits14_reg" else 768}
    for name, dim, layers, heads, triplane_dim, encoder, samples in (
        ("small", 512, 12, 8, 32, "dinov2_vits14_reg", 96),
        ("base", 768, 12, 12, 48, "dinov2_vitb14_reg", 96),
        ("large", 1024, 16, 16, 80, "dinov2_vitb14_reg", 128),
    )
}

_OPENLRM_KEYS = frozenset(OPENLRM_CONFIGS["small"]) | {"encoder_arch"}


def openlrm_config_kwargs(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """ModelLRM kwargs from another project's config.json, or None when `config` is not one of them.

    Recognised: OpenLRM's released config.json (the flat constructor kwargs, written by
    huggingface_hub's `save_pretrained`; an optional `encoder_arch` is accepted) and the golden
    fixtures' {"class": "ModelLRM", "kwargs": {...}, "encoder_arch": {...}}.
    """
    if config.get("class") == "ModelLRM" and isinstance(config.get("kwargs"), Mapping) and "encoder_arch" in config:
        return {**config["kwargs"], "encoder_arch": config["encoder_arch"]}
    if "class" in config or "transformer_dim" not in config or "triplane_low_res" not in config:
        return None
    unknown = sorted(set(config) - _OPENLRM_KEYS)
    if unknown:
        raise ConfigError(f"OpenLRM config has unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(_OPENLRM_KEYS))})")
    return dict(config)
