"""`single_image(SingleImageConfig(...))`: an image, a folder of images or a text prompt → 3D files.

What `recon3r single-image` runs; the config's fields are the command's flags
(`recon3r.utils.config_cli`), MIRA's `test.py` spellings included as aliases (`--checkpoint_path`,
`--config_path`, `--output_path`, `--mode`, `--input`, `--export_video`, `--export_mesh`). OpenLRM's
launcher form is part of the config too: `openlrm_infer` (its inference YAML) and `key=value` words
among `image` (`model_name=DIR`, `image_input=IMG`, ...; see `recon3r.seeds.apply_openlrm_launch`).
Each image goes through `recon3r.lrm.reconstruct.reconstruct_single`; the files appear in `out` only
once every image is done (one sub-folder per image for a folder).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recon3r.errors import CheckpointError, ConfigError
from recon3r.lrm.cameras import SOURCE_DISTANCE

NO_WEIGHTS = ("no single-image model given and none is shipped: pass --weights DIR, a released OpenLRM folder "
              "(e.g. openlrm-mix-base-1.1 from Hugging Face: config.json + model.safetensors) or a recon3r "
              "ModelLRM folder (recon3r.save_model)")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class SingleImageConfig:
    """Inputs and options of `single_image`; the source of every `recon3r single-image` flag."""

    image: list[str] = field(default_factory=list, metadata={
        "flag": "image", "nargs": "*", "metavar": "IMAGE",
        "help": "an image of one object, or a folder of images (OpenLRM's key=value words also go here)"})
    openlrm_infer: str | None = field(default=None, metadata={
        "flag": "--infer", "metavar": "CONFIG",
        "help": "OpenLRM's inference YAML (configs/infer-b.yaml: source_size, render_size, render_views, render_fps, "
        "frame_size, mesh_size, mesh_thres, source_cam_dist), with its key=value words (model_name=DIR, "
        "image_input=IMG, export_video=true, ...); --out defaults to dumps/MODEL_NAME"})
    input: str | None = field(default=None, metadata={
        "help": "an image or folder (--mode image), or the prompt (--mode text); alias of IMAGE / --prompt"})
    mode: str | None = field(default=None, metadata={
        "choices": ("image", "text"), "help": "what --input holds (default: image, or text when --prompt is given)"})
    prompt: str | None = field(default=None, metadata={
        "help": "a text prompt: generate the image with --text-to-image first"})
    text_to_image: str | None = field(default=None, metadata={
        "metavar": "DIR", "help": "a local diffusers pipeline folder (model_index.json + components) for --prompt"})
    weights: str | None = field(default=None, metadata={
        "aliases": ("--checkpoint_path", "--checkpoint-path"),
        "help": "ModelLRM weights: a folder (config.json + model.safetensors), or the weights file"})
    config_path: str | None = field(default=None, metadata={
        "flag": "--config_path", "aliases": ("--config-path",),
        "help": "the model's config.json when it is not beside the weights"})
    out: str | None = field(default=None, metadata={
        "aliases": ("--output_path", "--output-path"),
        "help": "output folder (one sub-folder per image when IMAGE is a folder); required"})
    export_video: bool = field(default=False, metadata={
        "flag": "--export_video", "aliases": ("--export-video",),
        "help": "write the turntable (MP4 + GIF); with --export_mesh, only what is asked"})
    export_mesh: bool = field(default=False, metadata={
        "flag": "--export_mesh", "aliases": ("--export-mesh",),
        "help": "write the mesh (PLY + GLB); with --export_video, only what is asked"})
    mesh_size: int = field(default=384, metadata={
        "aliases": ("--mesh_size",), "help": "density grid points per axis for marching cubes (as OpenLRM)"})
    mesh_threshold: float = field(default=3.0, metadata={
        "aliases": ("--mesh_thres",), "help": "density of the extracted surface (as OpenLRM)"})
    views: int = field(default=160, metadata={"aliases": ("--render_views",), "help": "turntable frames"})
    fps: float = field(default=30.0, metadata={"aliases": ("--render_fps",), "help": "turntable frame rate"})
    render_size: int | None = field(default=None, metadata={
        "aliases": ("--render_size",), "help": "turntable frame side (default: OpenLRM's for the model, 192 / 288 / 384)"})
    source_size: int | None = field(default=None, metadata={
        "aliases": ("--source_size",), "help": "model input side (default: OpenLRM's for the model, 224 / 336 / 448)"})
    source_distance: float = field(default=SOURCE_DISTANCE, metadata={
        "aliases": ("--source_cam_dist",), "help": "distance of the canonical source camera to the object"})
    recenter: bool = field(default=True, metadata={
        "negate": "--no-recenter",
        "help": "the image is already cut out and framed: skip the foreground estimate and recentring"})
    chunk: int = field(default=2, metadata={"aliases": ("--frame_size",), "help": "views rendered together"})
    steps: int = field(default=30, metadata={"help": "diffusion steps for --prompt"})
    seed: int = field(default=0, metadata={"help": "seed of the text-to-image draw and the render noise"})
    device: str = field(default="cpu", metadata={"help": "cpu, cuda, or auto"})
    overwrite: bool = field(default=False, metadata={"help": "replace an earlier `recon3r single-image` result"})


def apply_launch_words(config: SingleImageConfig) -> tuple[SingleImageConfig, str | None]:
    """OpenLRM's launcher form (`openlrm_infer`, `key=value` words in `image`) applied:
    (the config it gives, the one image path or None). ConfigError for more than one path."""
    from recon3r.seeds import apply_openlrm_launch, split_openlrm_words

    paths, overrides = split_openlrm_words(list(config.image))
    if len(paths) > 1:
        raise ConfigError(f"pass one IMAGE or folder, got {len(paths)}: {' '.join(paths)}")
    settings = argparse.Namespace(**{item.name: getattr(config, item.name) for item in dataclasses.fields(config)})
    settings.image = paths[0] if paths else None
    apply_openlrm_launch(settings, config.openlrm_infer, overrides)
    image = settings.image
    del settings.image
    return dataclasses.replace(config, image=[] if image is None else [image], **vars(settings)), image


def single_image(config: SingleImageConfig, *, report: Callable[[str], None] | None = None) -> dict[str, list[Path]]:
    """Reconstruct the image(s) or the prompt of `config`; returns {image name: files written}.

    Every option, input image and the output folder are checked before the model loads. `report`
    receives one line per image (and per warning) as the work goes (the command prints them).
    """
    from recon3r.io.images import check_image_file
    from recon3r.io.output_dir import check_output_dir
    from recon3r.lrm.preprocess import load_image
    from recon3r.lrm.reconstruct import SingleImageOptions, reconstruct_single, write_outputs
    from recon3r.models.checkpoint import load_model
    from recon3r.utils.checks import check_single_image_options

    say = report or (lambda line: None)
    config, image_path = apply_launch_words(config)
    if config.out is None:
        raise ConfigError("--out is required: the output folder (MIRA's --output_path)")
    prompt, source = _resolve_input(config, image_path)
    if prompt is not None and config.text_to_image is None:
        from recon3r.lrm.text_to_image import NO_PIPELINE

        raise ConfigError(NO_PIPELINE)
    if config.weights is None:
        raise CheckpointError(NO_WEIGHTS)
    check_single_image_options(config)  # numbers in range before any work
    jobs = _image_jobs(source) if source is not None else []
    for _, file, _ in jobs:  # fail early, naming the file, before loading the model
        check_image_file(file)
        load_image(file)
    output = check_output_dir(config.out, "single-image", inputs=[source, config.weights, config.config_path],
                              overwrite=config.overwrite)
    model = load_model(config.weights, device=config.device, expect="ModelLRM", config=config.config_path)
    both = not (config.export_video or config.export_mesh)
    options = SingleImageOptions(source_size=config.source_size, render_size=config.render_size,
                                 source_distance=config.source_distance, recenter=config.recenter,
                                 export_mesh=both or config.export_mesh, export_video=both or config.export_video,
                                 mesh_size=config.mesh_size, mesh_threshold=config.mesh_threshold, views=config.views,
                                 chunk=config.chunk, seed=config.seed)
    files: dict[str, list[Path]] = {}
    with output.staged() as out:  # a temporary sibling of --out, moved into place once complete
        if prompt is not None:
            from PIL import Image

            from recon3r.lrm.text_to_image import TextToImageOptions, generate_image, load_text_to_image

            pipeline = load_text_to_image(config.text_to_image, device=str(next(model.parameters()).device))
            image = generate_image(pipeline, prompt, TextToImageOptions(steps=config.steps, seed=config.seed))
            Image.fromarray(image).save(out / "prompt.png")
            say(f"generated prompt.png for {prompt!r}")
            jobs = [("prompt", image, Path("."))]
        for name, image, folder in jobs:
            result = reconstruct_single(image, model, options)
            if options.export_mesh and result.mesh is None:
                say(f"warning: {name}: no density above --mesh-threshold {config.mesh_threshold}; no mesh written")
            written = write_outputs(result, out / folder, fps=config.fps)
            files[name] = [output.relocate(path, out) for path in written]
            mesh = f"{len(result.mesh.vertices)} vertices, {len(result.mesh.faces)} faces; " if result.mesh else ""
            say(f"{name}: {result.seconds:.1f} s; {mesh}wrote {', '.join(p.name for p in written)} in "
                f"{output.path / folder}")
    return files


def _image_jobs(source: str) -> list[tuple[str, Path, Path]]:
    """(name, image file, sub-folder of the output) for an image file or each image of a folder."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return [(p.name, p, Path(p.stem)) for p in files]
    if path.is_file():
        return [(path.name, path, Path("."))]
    raise FileNotFoundError(f"image not found: {path}")


def _resolve_input(config: SingleImageConfig, image: str | None) -> tuple[str | None, str | None]:
    """(prompt, image path) from IMAGE, --input, --mode and --prompt; exactly one must be given."""
    mode = config.mode or ("text" if config.prompt is not None else "image")
    prompt = config.prompt
    source = image
    if config.input is not None:
        if mode == "text":
            prompt = prompt if prompt is not None else config.input
        else:
            source = source if source is not None else config.input
    if mode == "text" and prompt is None:
        raise ConfigError("--mode text needs the prompt: pass --prompt TEXT (or --input TEXT)")
    if mode == "image" and source is None:
        raise ConfigError("nothing to reconstruct: pass an IMAGE or folder (or --input), or --prompt TEXT")
    if prompt is not None and source is not None:
        raise ConfigError("pass either an image (IMAGE / --input) or --prompt, not both")
    return prompt, source
