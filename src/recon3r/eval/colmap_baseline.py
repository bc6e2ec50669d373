"""The classical baseline: COLMAP incremental structure-from-motion through pycolmap.

`run_colmap(image_paths)` runs SIFT feature extraction, exhaustive matching with geometric
verification and incremental mapping, keeps the largest model (most registered images) and
returns a cam-to-world pose per input image. Images COLMAP does not register in that model get
NaN poses, so that the relative-pose metrics count every pair they belong to as a failure
instead of silently dropping them. The world frame and scale are COLMAP's (arbitrary); the
relative-pose metrics do not depend on them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recon3r.errors import ImageLoadError, Recon3rError


@dataclass
class ColmapResult:
    """Poses of the N input images, in input order.

    world_from_cam: (N, 4, 4) float64 cam-to-world (OpenCV axes, COLMAP's world frame), NaN for
        images not registered in the largest model.
    intrinsics: (N, 3, 3) float64 pinhole K (pixel centres at integer coordinates), NaN where
        not registered. Distortion estimated by COLMAP is left out.
    registered: (N,) bool.
    """

    world_from_cam: np.ndarray
    intrinsics: np.ndarray
    registered: np.ndarray
    num_models: int  # models COLMAP built (the largest one is used)
    num_points: int  # 3D points of the largest model
    seconds: float  # wall time of extraction, matching and mapping
    options: dict = field(default_factory=dict)

    @property
    def num_registered(self) -> int:
        return int(self.registered.sum())


@contextlib.contextmanager
def _quiet_logging(verbose: bool) -> Iterator[None]:
    import pycolmap

    previous = pycolmap.logging.minloglevel
    if not verbose:
        pycolmap.logging.minloglevel = 2  # glog: 0 INFO, 1 WARNING, 2 ERROR
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = previous


def _link_images(image_paths: Sequence[Path], folder: Path) -> list[str]:
    """Expose the inputs in one folder under unique, order-keeping names (symlinks, or copies)."""
    names = []
    for index, path in enumerate(image_paths):
        if not path.is_file():
            raise ImageLoadError(f"image {path} does not exist")
        name = f"{index:05d}_{path.name}"
        target = folder / name
        try:
            os.symlink(path.resolve(), target)
        except OSError:
            target.write_bytes(path.read_bytes())
        names.append(name)
    return names


def _set_known_intrinsics(database_path: Path, names: list[str], intrinsics: np.ndarray) -> None:
    """Write the known K of each image into its (per-image) PINHOLE camera in the database."""
    import pycolmap

    db = pycolmap.Database.open(database_path)
    try:
        for image in db.read_all_images():
            k = intrinsics[names.index(image.name)]
            camera = db.read_camera(image.camera_id)
            # COLMAP puts pixel centres at +0.5 (the image corner is the origin); recon3r at 0.
            camera.params = [k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5]
            camera.has_prior_focal_length = True
            db.update_camera(camera)
    finally:
        db.close()


def run_colmap(
    image_paths: Sequence[str | Path],
    *,
    intrinsics: np.ndarray | None = None,
    work_dir: str | Path | None = None,
    num_threads: int = 1,
    seed: int = 0,
    max_num_features: int = 8192,
    verbose: bool = False,
) -> ColmapResult:
    """Run COLMAP SfM on the images and return a pose per input image (NaN where unregistered).

    Args:
        image_paths: N ≥ 2 image files; names may repeat across folders.
        intrinsics: optional (N, 3, 3) known K (pixel centres at integer coordinates); they are
            then fixed (PINHOLE, not refined). Without them COLMAP's defaults apply: one
            SIMPLE_RADIAL camera per image size, focal initialised at 1.2·max(W, H), refined.
        work_dir: where the database and models go; a temporary folder (deleted) by default.
        num_threads: CPU threads, -1 for all. With 1 (the default) runs are reproducible; with
            more, COLMAP is faster but which images register can change from run to run.
        seed: random seed of COLMAP's RANSAC and mapper, for reproducible runs.
        max_num_features: SIFT features per image.
        verbose: let COLMAP log at INFO level.
    """
    import pycolmap

    paths = [Path(p) for p in image_paths]
    if len(paths) < 2:
        raise Recon3rError(f"COLMAP needs at least 2 images, got {len(paths)}")
    if intrinsics is not None:
        intrinsics = np.asarray(intrinsics, dtype=np.float64)
        if intrinsics.shape != (len(paths), 3, 3):
            raise Recon3rError(
                f"intrinsics must be ({len(paths)}, 3, 3) for {len(paths)} images, got {intrinsics.shape}"
            )
    options = {
        "intrinsics": "known (fixed)" if intrinsics is not None else "unknown (COLMAP defaults)",
        "num_threads": num_threads,
        "seed": seed,
        "max_num_features": max_num_features,
        "pycolmap": pycolmap.__version__,
    }
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        root = (
            Path(work_dir)
            if work_dir is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        image_dir, model_dir = root / "images", root / "sparse"
        image_dir.mkdir(parents=True, exist_ok=True)
        model_dir.mkdir(parents=True, exist_ok=True)
        database = root / "database.db"
        if database.exists():
            database.unlink()
        stack.enter_context(_quiet_logging(verbose))
        names = _link_images(paths, image_dir)
        pycolmap.set_random_seed(seed)

        reader = pycolmap.ImageReaderOptions()
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = num_threads
        extraction.sift.max_num_features = max_num_features
        camera_mode = pycolmap.CameraMode.AUTO
        if intrinsics is not None:
            reader.camera_model = "PINHOLE"
            camera_mode = pycolmap.CameraMode.PER_IMAGE
        pycolmap.extract_features(
            database,
            image_dir,
            image_names=names,
            camera_mode=camera_mode,
            reader_options=reader,
            extraction_options=extraction,
            device=pycolmap.Device.cpu,
        )
        if intrinsics is not None:
            _set_known_intrinsics(database, names, intrinsics)

        matching = pycolmap.FeatureMatchingOptions()
        matching.num_threads = num_threads
        pycolmap.match_exhaustive(database, matching_options=matching, device=pycolmap.Device.cpu)

        mapping = pycolmap.IncrementalPipelineOptions()
        mapping.num_threads = num_threads
        mapping.random_seed = seed
        mapping.mapper.random_seed = seed
        if intrinsics is not None:
            mapping.ba_refine_focal_length = False
            mapping.ba_refine_principal_point = False
            mapping.ba_refine_extra_params = False
            mapping.mapper.abs_pose_refine_focal_length = False
            mapping.mapper.abs_pose_refine_extra_params = False
        models = pycolmap.incremental_mapping(database, image_dir, model_dir, options=mapping)
        return _collect(models, names, options, time.perf_counter() - start)


def _collect(models: dict, names: list[str], options: dict, seconds: float) -> ColmapResult:
    count = len(names)
    poses = np.full((count, 4, 4), np.nan)
    intrinsics = np.full((count, 3, 3), np.nan)
    registered = np.zeros(count, dtype=bool)
    num_points = 0
    if models:
        largest = max(models.values(), key=lambda rec: (rec.num_reg_images(), rec.num_points3D()))
        num_points = largest.num_points3D()
        index_of = {name: i for i, name in enumerate(names)}
        for image in largest.images.values():
            if not image.has_pose:
                continue
            i = index_of[image.name]
            cam_from_world = np.eye(4)
            cam_from_world[:3, :] = image.cam_from_world().matrix()
            poses[i] = np.linalg.inv(cam_from_world)
            k = np.array(image.camera.calibration_matrix(), dtype=np.float64)
            k[0, 2] -= 0.5  # COLMAP's pixel centres are at +0.5
            k[1, 2] -= 0.5
            intrinsics[i] = k
            registered[i] = True
    return ColmapResult(
        world_from_cam=poses,
        intrinsics=intrinsics,
        registered=registered,
        num_models=len(models),
        num_points=num_points,
        seconds=seconds,
        options=options,
    )
