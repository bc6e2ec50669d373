"""A text prompt → an image of one object, with a local diffusers pipeline (the `text-to-image` extra).

The pipeline is read from a folder on disk (`DiffusionPipeline.save_pretrained` layout:
model_index.json plus one sub-folder per component, e.g. a downloaded Stable Diffusion snapshot);
nothing is downloaded, and only safetensors weights are accepted (no pickled code). A suffix asks
for an isolated object on a plain background, which the single-image preprocessing then cuts out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recon3r.errors import ConfigError

NO_PIPELINE = ("--prompt needs a local text-to-image model: pass --text-to-image DIR, a diffusers pipeline folder "
               "(model_index.json + components, e.g. a downloaded Stable Diffusion snapshot; nothing is downloaded)")


@dataclass
class TextToImageOptions:
    """How the image is generated (diffusers' own defaults where None)."""

    steps: int = 30
    guidance_scale: float | None = None
    size: int | None = None  # square output side; None: the pipeline's default
    seed: int = 0
    prompt_suffix: str = ", a single object, centered, isolated on a plain white background"


def load_text_to_image(folder: str | Path | None, device: str = "cpu") -> Any:
    """The diffusers pipeline saved in `folder`, on `device`; one-line ConfigErrors otherwise."""
    if folder is None:
        raise ConfigError(NO_PIPELINE)
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ConfigError(f"--text-to-image {folder}: not a diffusers pipeline folder (no model_index.json)")
    try:
        from diffusers import DiffusionPipeline
    except ImportError:
        raise ConfigError("--prompt needs the diffusers package: pip install 'recon3r[text-to-image]'") from None
    try:
        pipeline = DiffusionPipeline.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except (OSError, ValueError) as err:
        raise ConfigError(f"--text-to-image {folder}: cannot load the pipeline ({str(err).splitlines()[0]})") from None
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def generate_image(pipeline: Any, prompt: str, options: TextToImageOptions | None = None) -> np.ndarray:
    """One (H, W, 3) uint8 image for `prompt` (+ the options' suffix), reproducible with `options.seed`."""
    import torch

    options = options or TextToImageOptions()
    if not prompt.strip():
        raise ConfigError("--prompt is empty")
    kwargs: dict[str, Any] = {"num_inference_steps": options.steps, "output_type": "np",
                              "generator": torch.Generator().manual_seed(options.seed)}
    if options.guidance_scale is not None:
        kwargs["guidance_scale"] = options.guidance_scale
    if options.size is not None:
        kwargs["height"] = kwargs["width"] = options.size
    image = pipeline(prompt + options.prompt_suffix, **kwargs).images[0]
    return (np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)
