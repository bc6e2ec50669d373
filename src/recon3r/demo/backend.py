"""What the demo's buttons do, as plain functions of plain values (no gradio needed to test them).

`DemoBackend.check_uploads` validates uploaded files, `caption_rows` pre-fills captions from
EXIF, and `run` reconstructs into a fresh folder per run and writes what the page shows and
offers for download. Bad input raises `recon3r.errors.Recon3rError` subclasses with a message
meant for the page; the gradio layer (`recon3r.demo.app`) turns them into `gr.Error`.

Each run is bounded: at most `max_images` images and `max_image_iterations` images × alignment
iterations, and it stops at the next stage boundary, inference batch or alignment step once its
`cancel` callable says so (or the backend is closed). Old run folders are deleted once there are
more than `keep_runs` of them or they hold more than `max_results_mb`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import weakref
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recon3r.errors import ConfigError, ImageLoadError
from recon3r.utils.cancel import CancelCheck, raise_if_cancelled

GRAPH_KINDS = ("complete", "swin", "logwin", "oneref")
SCHEDULES = ("cosine", "linear")
GEOMETRIES = ("points", "mesh")

# Progress callback: fraction in [0, 1] and a short description (gradio's `gr.Progress` fits).
ProgressFn = Callable[..., Any]


@dataclass
class DemoSettings:
    """Server-wide limits and defaults of the demo (the `recon3r demo` flags)."""

    image_size: int | None = None  # 224 or 512; None: the model's training size
    device: str = "auto"
    max_images: int = 32
    max_file_mb: float = 20.0  # per uploaded file; gradio enforces it at upload time too
    max_megapixels: float = 40.0  # per image, checked from the header before decoding
    max_iterations: int = 1000  # alignment iterations per run (the slider's maximum)
    # images × alignment iterations per run (two images need no iterations): bounds the CPU time
    # one request can take: about 2 min of one core for 10 images × 300 iterations (example model)
    max_image_iterations: int = 3000
    batch_size: int = 8
    workdir: Path | None = None  # parent of the per-run folders; None: a fresh temporary folder
    keep_runs: int = 8  # older run folders are deleted
    max_results_mb: float = 500.0  # older run folders are deleted while all runs together hold more

    def check(self) -> None:
        """Raise ConfigError naming the first setting out of range (the CLI flag's name)."""
        if self.image_size not in (None, 224, 512):
            raise ConfigError(f"--image-size must be 224 or 512, got {self.image_size}")
        if self.max_images < 2:
            raise ConfigError(f"--max-images must be 2 or more, got {self.max_images}")
        if not self.max_file_mb > 0:
            raise ConfigError(f"--max-file-mb must be positive, got {self.max_file_mb}")
        if self.max_iterations < 0:
            raise ConfigError(f"--max-iterations must be 0 or more, got {self.max_iterations}")
        if self.max_image_iterations < 0:
            raise ConfigError(f"--max-image-iterations must be 0 or more, got {self.max_image_iterations}")
        if not self.max_results_mb > 0:
            raise ConfigError(f"--max-results-mb must be positive, got {self.max_results_mb}")
        if self.keep_runs < 1:
            raise ConfigError(f"keep_runs must be 1 or more, got {self.keep_runs}")

    def check_work(self, num_images: int, niter: int) -> None:
        """Refuse a run over the per-run limits, saying what would fit.

        Two images are aligned in closed form (PnP), so their iterations do not count.
        """
        if not 0 <= niter <= self.max_iterations:
            raise ConfigError(f"alignment iterations must be between 0 and {self.max_iterations}, got {niter}")
        counted = niter if num_images > 2 else 0
        work = num_images * counted
        if work > self.max_image_iterations:
            most = self.max_image_iterations // num_images
            raise ConfigError(
                f"{num_images} images × {niter} alignment iterations = {work:,} image-iterations, over this "
                f"demo's limit of {self.max_image_iterations:,} per run; use at most {most} iterations with "
                f"{num_images} images, or fewer images")


@dataclass
class RunOptions:
    """The choices a user tunes in the page."""

    graph: str = "complete"  # one of GRAPH_KINDS
    graph_param: int = 3  # window size (swin, logwin) or reference image (oneref)
    niter: int = 300
    schedule: str = "cosine"
    min_conf: float = 3.0
    mask_far: bool = False  # drop sky / far background (see `recon3r.reconstruct.mask_far_points`)
    far_ratio: float = 3.0  # with mask_far: drop points deeper than this × the image's median depth
    geometry: str = "points"  # GLB geometry: points or mesh
    frusta: bool = True  # draw the cameras in the GLB

    def graph_spec(self) -> str:
        """The pair-graph string of `recon3r.pairs` (`complete`, `swin-3`, `oneref-0`, ...)."""
        if self.graph not in GRAPH_KINDS:
            raise ConfigError(f"unknown scene graph {self.graph!r}; choose one of {', '.join(GRAPH_KINDS)}")
        if self.graph == "complete":
            return "complete"
        param = int(self.graph_param)
        if self.graph != "oneref" and param < 1:
            raise ConfigError(f"the {self.graph} window size must be 1 or more, got {param}")
        return f"{self.graph}-{param}"


@dataclass
class RunOutputs:
    """What one run produced: files in its own folder, and the gallery items."""

    folder: Path
    glb: Path
    ply: Path
    colmap_zip: Path
    transforms: Path
    gallery: list[tuple[str, str]] = field(default_factory=list)  # (png path, caption)
    summary: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def downloads(self) -> list[str]:
        return [str(self.glb), str(self.ply), str(self.colmap_zip), str(self.transforms)]


class DemoBackend:
    """The demo's callbacks around one loaded pair model."""

    def __init__(self, model: Any, settings: DemoSettings | None = None) -> None:
        self.model = model
        self.settings = settings or DemoSettings()
        self.settings.check()
        self._owns_workdir = self.settings.workdir is None
        if self.settings.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="recon3r-demo-"))
            weakref.finalize(self, shutil.rmtree, self.workdir, True)  # removed with the backend or at exit
        else:
            self.workdir = Path(self.settings.workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one reconstruction at a time per model
        self._closing = threading.Event()  # set by close(): every run stops at its next check

    def close(self, timeout: float = 60.0) -> None:
        """Stop the run in progress at its next check, wait for it (up to `timeout` s) and delete
        the run folders if the backend made their parent."""
        self._closing.set()
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ------------------------------------------------------------------ uploads
    def check_uploads(self, files: Sequence[str | Path] | None, *, min_images: int = 0) -> list[Path]:
        """The uploaded files as paths, after checking count, size and that each is a readable image.

        Raises ImageLoadError naming the offending file, or saying how many images are needed.
        """
        paths = [Path(_as_path(f)) for f in (files or [])]
        limit = self.settings.max_images
        if len(paths) > limit:
            raise ImageLoadError(f"{len(paths)} files uploaded; this demo takes at most {limit} images per run")
        if len(paths) < min_images:
            got = "no image" if not paths else f"only {len(paths)} image"
            raise ImageLoadError(f"reconstruction needs two or more images, got {got}; upload at least two photos "
                                 "of the same scene")
        for path in paths:
            self._check_image(path)
        return paths

    def _check_image(self, path: Path) -> None:
        from PIL import Image, UnidentifiedImageError

        name = _display_name(path)
        if not path.is_file():
            raise ImageLoadError(f"{name}: the uploaded file is missing; upload it again")
        size_mb = path.stat().st_size / 1e6
        if size_mb > self.settings.max_file_mb:
            raise ImageLoadError(f"{name} is {size_mb:.1f} MB; files up to {self.settings.max_file_mb:g} MB "
                                 "are accepted")
        try:
            with Image.open(path) as image:
                megapixels = image.width * image.height / 1e6
                if megapixels > self.settings.max_megapixels:
                    raise ImageLoadError(f"{name} is {image.width}x{image.height} ({megapixels:.0f} megapixels); "
                                         f"images up to {self.settings.max_megapixels:g} megapixels are accepted")
                image.verify()
        except ImageLoadError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise ImageLoadError(f"{name} is not an image this demo can read ({type(err).__name__}); "
                                 "upload photos such as JPEG or PNG files") from None

    def caption_rows(self, files: Sequence[str | Path] | None) -> list[list[str]]:
        """[[image name, caption], ...] for the captions table: EXIF captions where present, else ""."""
        from recon3r.text.captions import caption_from_exif

        paths = self.check_uploads(files)
        return [[name, caption_from_exif(path) or ""] for name, path in zip(unique_names(paths), paths)]

    # ------------------------------------------------------------------ reconstruction
    def run(self, files: Sequence[str | Path] | None, captions: Sequence[Sequence[Any]] | None,
            options: RunOptions, progress: ProgressFn | None = None,
            cancel: CancelCheck | None = None) -> RunOutputs:
        """Reconstruct the uploaded images with `options` into a new run folder.

        `captions` are table rows [image name, caption]; rows are matched to images by name and a
        blank caption means none. Returns the exported files and the depth/confidence images.
        When `cancel()` turns True (or the backend is closed) the run stops at its next check,
        raises `recon3r.errors.Cancelled` and leaves no run folder behind.
        """
        paths = self.check_uploads(files, min_images=2)
        graph = options.graph_spec()
        if options.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {options.schedule!r}; choose {' or '.join(SCHEDULES)}")
        if options.geometry not in GEOMETRIES:
            raise ConfigError(f"unknown geometry {options.geometry!r}; choose {' or '.join(GEOMETRIES)}")
        self.settings.check_work(len(paths), int(options.niter))

        def stopped() -> bool:
            return self._closing.is_set() or (cancel is not None and bool(cancel()))

        while not self._lock.acquire(timeout=0.1):  # queued behind another run: stay cancellable
            raise_if_cancelled(stopped, "waiting for the model")
        try:
            raise_if_cancelled(stopped, "the start")
            folder = self._new_run_folder()
            try:
                outputs = self._run_in(folder, paths, captions, options, graph, progress, stopped)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)  # no half-written run stays behind
                raise
            self._prune_runs(keep=folder)
            return outputs
        finally:
            self._lock.release()

    def _run_in(self, folder: Path, paths: list[Path], captions: Sequence[Sequence[Any]] | None,
                options: RunOptions, graph: str, progress: ProgressFn | None, stopped: CancelCheck) -> RunOutputs:
        from recon3r.reconstruct import ReconstructConfig, format_summary, reconstruct

        report = progress or (lambda *args, **kwargs: None)
        report(0.02, desc="preparing the images")
        names = unique_names(paths)
        images_dir = folder / "images"
        images_dir.mkdir()
        copies = []
        for name, path in zip(names, paths):
            copies.append(images_dir / name)
            link_or_copy(path, copies[-1])
        captions_file = folder / "captions.json"
        by_name = caption_map(captions)
        captions_file.write_text(json.dumps({str(c): by_name.get(n) for n, c in zip(names, copies)}, indent=1))

        config = ReconstructConfig(
            images=[str(c) for c in copies], out=None, size=self.settings.image_size, graph=graph,
            batch_size=self.settings.batch_size, niter=int(options.niter), schedule=options.schedule,
            min_conf=float(options.min_conf), max_depth_ratio=float(options.far_ratio) if options.mask_far else None,
            device=self.settings.device, captions=str(captions_file), exif=False, progress=progress is not None,
        )
        report(0.05, desc="reconstructing")
        result = reconstruct(config, model=self.model, cancel=stopped)
        scene = result.scene

        raise_if_cancelled(stopped, "export")
        report(0.9, desc="exporting")
        outputs = export_run(scene, folder, copies, geometry=options.geometry, frusta=bool(options.frusta))
        outputs.gallery = write_maps(scene, folder / "maps", names)
        kept = result.summary["points_kept"]
        if kept == 0:
            outputs.warnings.append("no point passed the filters: lower the minimum confidence or turn off "
                                    "the sky/background mask")
        outputs.summary = format_summary(result)
        report(1.0, desc="done")
        return outputs

    def _new_run_folder(self) -> Path:
        self._prune_runs(room=1)
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.workdir))

    def _prune_runs(self, keep: Path | None = None, room: int = 0) -> None:
        """Delete the oldest run folders (never `keep`) until at most `keep_runs - room` remain and
        they hold at most `max_results_mb`."""
        runs = sorted((p for p in self.workdir.glob("run-*") if p.is_dir() and p != keep),
                      key=lambda p: p.stat().st_mtime)
        sizes = {run: folder_bytes(run) for run in runs}
        total = sum(sizes.values()) + (folder_bytes(keep) if keep is not None else 0)
        count = len(runs) + (keep is not None)
        limit = self.settings.max_results_mb * 1e6
        for old in runs:
            if count <= self.settings.keep_runs - room and total <= limit:
                break
            shutil.rmtree(old, ignore_errors=True)
            count -= 1
            total -= sizes[old]


# ------------------------------------------------------------------ helpers
def unique_names(paths: Sequence[Path]) -> list[str]:
    """File names of the uploads, made unique (`photo.jpg`, `photo_1.jpg`) and filesystem-safe."""
    import re

    names, seen = [], set()
    for i, path in enumerate(paths):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem).strip("._") or f"image_{i:03d}"
        suffix = re.sub(r"[^A-Za-z0-9.]+", "", Path(path).suffix.lower())
        name, k = stem + suffix, 1
        while name.lower() in seen:
            name, k = f"{stem}_{k}{suffix}", k + 1
        seen.add(name.lower())
        names.append(name)
    return names


def caption_map(rows: Sequence[Sequence[Any]] | Any | None) -> dict[str, str | None]:
    """Captions-table rows [name, caption] → {name: caption or None}; accepts a pandas DataFrame, or
    the table as gradio sends it ({"headers": ..., "data": rows}), too."""
    if rows is None:
        return {}
    if isinstance(rows, dict):
        rows = rows.get("data") or []
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # pandas DataFrame
        rows = rows.values.tolist()
    out: dict[str, str | None] = {}
    for row in rows:
        if len(row) < 2 or not row[0]:
            continue
        caption = row[1]
        text = "" if caption is None or (isinstance(caption, float) and np.isnan(caption)) else str(caption)
        out[str(row[0])] = text.strip() or None
    return out


def export_run(scene: Any, folder: Path, images: Sequence[Path], *, geometry: str, frusta: bool) -> RunOutputs:
    """Write the downloads of one run into `folder`: scene.glb, points.ply, colmap.zip, transforms.json.

    The COLMAP model is at the original image resolution; the zip holds `sparse/0/*.txt` and the
    uploaded images under `images/`, as COLMAP expects them (the text files are written to a
    scratch folder and deleted once zipped: only the zip is offered).
    """
    from recon3r.io.exports import export_colmap, export_glb, export_nerfstudio, export_ply

    glb = export_glb(scene, folder / "scene.glb", geometry=geometry, frusta=frusta)  # type: ignore[arg-type]
    ply = export_ply(scene, folder / "points.ply")
    colmap_zip = folder / "colmap.zip"
    with tempfile.TemporaryDirectory(prefix=".colmap-", dir=folder) as scratch:
        sparse = export_colmap(scene, Path(scratch) / "sparse" / "0", resolution="original",
                               image_names=[Path(p).name for p in images])
        with zipfile.ZipFile(colmap_zip, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(sparse.iterdir()):
                archive.write(file, f"sparse/0/{file.name}")
            for image in images:
                archive.write(image, f"images/{Path(image).name}")
    transforms = export_nerfstudio(scene, folder / "transforms.json", resolution="original",
                                   image_paths=[f"images/{Path(p).name}" for p in images])
    return RunOutputs(folder=folder, glb=glb, ply=ply, colmap_zip=colmap_zip, transforms=transforms)


def write_maps(scene: Any, folder: Path, names: Sequence[str]) -> list[tuple[str, str]]:
    """Depth and confidence PNGs per image; returns gallery items (path, caption)."""
    from PIL import Image

    from recon3r.demo.maps import confidence_image, depth_image

    folder.mkdir(parents=True, exist_ok=True)
    top = max(float(np.max(c)) for c in scene.confidences)
    items = []
    for i, name in enumerate(names):
        stem = Path(name).stem
        depth_path = folder / f"{i:03d}_{stem}_depth.png"
        Image.fromarray(depth_image(scene.depths[i], scene.masks[i])).save(depth_path)
        conf_path = folder / f"{i:03d}_{stem}_confidence.png"
        Image.fromarray(confidence_image(scene.confidences[i], high=top)).save(conf_path)
        items += [(str(depth_path), f"{name}: depth"), (str(conf_path), f"{name}: confidence")]
    return items


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (no second copy of an upload on disk), copying across filesystems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def folder_bytes(folder: Path) -> int:
    """Total size of the files under `folder` (0 if it is gone)."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _display_name(path: Path) -> str:
    return Path(path).name


def _as_path(item: Any) -> str:
    """Uploads arrive as paths, as gradio's {"path": ...} records, or as objects with a `.path`/`.name`."""
    if isinstance(item, (str, Path)):
        return str(item)
    for attribute in ("path", "name"):
        value = getattr(item, attribute, None) or (item.get(attribute) if isinstance(item, dict) else None)
        if value:
            return str(value)
    raise ImageLoadError(f"cannot read the uploaded item {item!r}")
