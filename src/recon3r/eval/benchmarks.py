"""Benchmark sets for `recon3r eval`: what a spec string names, loaded into scenes with ground truth.

A spec is one of
- `procedural:N[:key=value,...]`: held-out procedural data with exact GT, rendered with a fixed
  seed from the `test` split stream. Keys: `views`, `kind`, `size` (render size, default the
  evaluation size or 224), `seed` (default 0). Per task:
  - relpose, mv_recon, depth, video_depth, trajectory: N scenes of `views` views (default 4),
    `kind` `pairs`, `sequence` or `orbit` (default `sequence` for video_depth and trajectory, else
    `pairs`): what `recon3r data make-procedural --split test --seed SEED --scenes N --views V
    --kind KIND --size SIZE` writes;
  - novel_view: N held-out procedural objects × `views` renders (default 4; `kind=orbit`, the
    default, is the only kind): what `recon3r data make-objects` writes (RGBA renders whose alpha
    is the object mask, cameras, GT surface points), from the `test` split's seed;
  - depth_to_3d: N single-view depth maps (`views=1`, the default; with `views=V` each view of
    N/V scenes is a map of its own) of kind `pairs` scenes (rooms and yards, the default),
    `sequence`, `orbit`, or `object` (one procedural object, depth on the object only);
- a folder in the recon3r multi-view format (`dataset.json`, every scene) or one scene folder
  (`scene.json`); for depth_to_3d each view with depth and intrinsics is a map of its own;
- a folder of rendered objects (any `recon3r.data.rendered_objects.RenderedObjects` layout, e.g.
  written by `recon3r data make-objects`; its `test` split when splits.json has one), for novel_view;
- a folder in the Train-3D layout, `depths/<name>.npz` + `intrinsics/<name>.npy` (what `recon3r
  data depth3d` writes), for depth_to_3d: see `recon3r.eval.depth_to_3d.read_depth_folder`;
- a real set folder: a calibrated ring such as `../shared/data/middlebury_dino_sparse_ring`
  (poses and intrinsics, for relpose and trajectory) or a rectified stereo pair such as
  `../shared/data/middlebury2003_teddy` (left-image depth up to scale; the rectified cameras
  differ by a translation along +x of unknown length, which relpose can use).

GT is kept at the resolution of the image files; `recon3r.eval.tasks` samples it onto each
method's prediction grid.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recon3r.errors import ConfigError

TASKS = ("relpose", "mv_recon", "depth", "video_depth", "trajectory", "novel_view", "depth_to_3d")
PROCEDURAL_KEYS = ("views", "kind", "size", "seed")
PROCEDURAL_SPLIT = "test"
#: Procedural kinds per task beyond the camera paths of `recon3r.data.procedural.KINDS`.
OBJECT_KIND = "object"


@dataclass
class BenchmarkScene:
    """The images of one scene and their ground truth (N views, file resolution).

    world_from_cam: (N, 4, 4) float64 GT cam-to-world poses (OpenCV axes), or None.
    intrinsics: (N, 3, 3) float64 K in pixels of the image files (pixel centres at integer
        coordinates), or None when unknown.
    depths: per view (H, W) float z-depth in the GT unit, 0 or non-finite where unknown; None for
        a view without GT depth, or None for the whole scene.
    depth_scale_free: the GT depth is known only up to one scale (evaluate it scale-invariantly).
    kind: `sequence` when the views are frames in temporal order (see `recon3r.data.format`),
        `object` for a rendered object (novel_view).
    masks: per view (H, W) bool object mask (rendered objects: alpha ≥ 0.5), or None.
    surface_points: (P, 3) GT surface samples in the world frame (rendered objects' points.npy),
        or None when the set carries none.
    """

    name: str
    image_paths: list[Path]
    world_from_cam: np.ndarray | None = None
    intrinsics: np.ndarray | None = None
    depths: list[np.ndarray | None] | None = None
    depth_scale_free: bool = False
    kind: str = "unordered"
    masks: list[np.ndarray] | None = None
    surface_points: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image_paths)

    def has_depth(self, view: int) -> bool:
        return self.depths is not None and self.depths[view] is not None


@dataclass
class Benchmark:
    """A named list of scenes; `spec` is the string it was loaded from.

    The scenes are `BenchmarkScene`s, except for depth_to_3d: single depth maps
    (`recon3r.eval.depth_to_3d.DepthView`).
    """

    name: str
    spec: str
    scenes: list
    description: str = ""
    meta: dict = field(default_factory=dict)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.scenes)

    def close(self) -> None:
        """Delete the rendered files of a procedural set written to a temporary folder."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def load_benchmark(spec: str, task: str = "relpose", *, size: int | None = None,
                   cache_dir: str | Path | None = None) -> Benchmark:
    """Resolve a benchmark spec (see the module docstring) and check it has the GT `task` needs.

    size: the evaluation's network size, the default render size of procedural sets.
    cache_dir: where procedural sets are rendered (and reused when already there); None: a
        temporary folder, deleted by `Benchmark.close()` or when the benchmark is collected.
    Raises ConfigError naming the spec when it is neither form, or lacks the task's GT.
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    text = str(spec).strip()
    if text.startswith("procedural:") or text == "procedural":
        if task == "novel_view":
            benchmark = _procedural_objects(text, size, cache_dir)
        elif task == "depth_to_3d":
            benchmark = _procedural_depth_maps(text, size)
        else:
            benchmark = _procedural(text, task, size, cache_dir)
    else:
        path = Path(text).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"unknown benchmark {text!r}: not procedural:N and no such folder; use procedural:N[:views=V,"
                "kind=K,size=S,seed=S], a folder in the recon3r multi-view format, a rendered-objects folder "
                "(novel_view), a Train-3D depths/ + intrinsics/ folder (depth_to_3d), or a real set folder such as "
                "../shared/data/middlebury_dino_sparse_ring or ../shared/data/middlebury2003_teddy"
            )
        if task == "novel_view":
            benchmark = _objects_folder(path, text)
        elif task == "depth_to_3d":
            benchmark = _depth_maps_folder(path, text)
        else:
            benchmark = _folder(path, text)
    check_benchmark(benchmark, task)
    return benchmark


def parse_procedural_spec(spec: str, task: str = "relpose", size: int | None = None) -> dict:
    """`procedural:N[:key=value,...]` → {scenes, views, kind, size, seed} with the defaults applied."""
    match = re.fullmatch(r"procedural:(\d+)(?::(.*))?", spec.strip())
    if match is None:
        raise ConfigError(f"bad procedural benchmark {spec!r}: expected procedural:N or procedural:N:views=4,kind=pairs")
    from recon3r.data.procedural import KINDS

    kinds = {"novel_view": ("orbit",), "depth_to_3d": (*KINDS, OBJECT_KIND)}.get(task, KINDS)
    default_kind = {"video_depth": "sequence", "trajectory": "sequence", "novel_view": "orbit"}.get(task, "pairs")
    options = {"scenes": int(match.group(1)), "views": 1 if task == "depth_to_3d" else 4, "kind": default_kind,
               "size": int(size) if size else 224, "seed": 0}
    for item in filter(None, (match.group(2) or "").split(",")):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in PROCEDURAL_KEYS:
            raise ConfigError(f"bad option {item!r} in benchmark {spec!r}; keys are {', '.join(PROCEDURAL_KEYS)}")
        if key == "kind":
            if value not in kinds:
                raise ConfigError(f"bad kind {value!r} in benchmark {spec!r} for task {task!r}; expected one of "
                                  f"{', '.join(kinds)}")
            options[key] = value
        else:
            try:
                options[key] = int(value)
            except ValueError:
                raise ConfigError(f"bad {key} {value!r} in benchmark {spec!r}: expected an integer") from None
    min_views = 1 if task == "depth_to_3d" else 2
    if options["scenes"] < 1 or options["views"] < min_views or options["size"] < 16:
        raise ConfigError(f"benchmark {spec!r} needs N >= 1 scenes, views >= {min_views} and size >= 16")
    return options


def _procedural(spec: str, task: str, size: int | None, cache_dir: str | Path | None) -> Benchmark:
    from recon3r.data.format import DatasetError, read_dataset, write_dataset
    from recon3r.data.multiview import split_seed
    from recon3r.data.procedural import write_procedural

    options = parse_procedural_spec(spec, task, size)
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="recon3r-eval-")
        cache_dir = tmp.name
    folder = Path(cache_dir) / (
        f"procedural_{PROCEDURAL_SPLIT}_seed{options['seed']}_{options['kind']}_{options['scenes']}x"
        f"{options['views']}_{options['size']}px"
    )
    try:
        ready = read_dataset(folder).meta.get("split") == PROCEDURAL_SPLIT
    except DatasetError:
        ready = False
    if not ready:
        write_procedural(folder, options["scenes"], options["views"], size=options["size"],
                         seed=split_seed(options["seed"], PROCEDURAL_SPLIT), kind=options["kind"])
        index = read_dataset(folder)
        write_dataset(folder, index.scenes, splits={PROCEDURAL_SPLIT: index.scenes},
                      meta={**index.meta, "split": PROCEDURAL_SPLIT, "base_seed": options["seed"]})
    benchmark = _folder(folder, spec)
    benchmark.name = f"procedural-{PROCEDURAL_SPLIT}"
    benchmark.description = (
        f"{options['scenes']} held-out procedural scenes × {options['views']} views ({options['kind']}, "
        f"rendered at {options['size']} px, seed {options['seed']}, split '{PROCEDURAL_SPLIT}')"
    )
    benchmark.meta = {"procedural": options, "folder": str(folder)}
    benchmark._tmp = tmp
    return benchmark


def _procedural_objects(spec: str, size: int | None, cache_dir: str | Path | None) -> Benchmark:
    """N held-out procedural objects rendered in the rendered-objects layout (see `_objects_folder`)."""
    from recon3r.data.multiview import split_seed
    from recon3r.data.procedural.objects import object_name, write_rendered_objects

    options = parse_procedural_spec(spec, "novel_view", size)
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="recon3r-eval-")
        cache_dir = tmp.name
    folder = Path(cache_dir) / (f"procedural_{PROCEDURAL_SPLIT}_seed{options['seed']}_objects_{options['scenes']}x"
                                f"{options['views']}_{options['size']}px")
    count = options["scenes"]
    if not all((folder / object_name(i) / "metadata.json").is_file() for i in range(count)):
        write_rendered_objects(folder, count, options["views"], size=options["size"],
                               seed=split_seed(options["seed"], PROCEDURAL_SPLIT))
    benchmark = _objects_folder(folder, spec)
    benchmark.name = f"procedural-objects-{PROCEDURAL_SPLIT}"
    benchmark.description = (f"{count} held-out procedural objects × {options['views']} renders ({options['size']} px, "
                             f"seed {options['seed']}, split '{PROCEDURAL_SPLIT}')")
    benchmark.meta = {"procedural": options, "folder": str(folder)}
    benchmark._tmp = tmp
    return benchmark


def _objects_folder(path: Path, spec: str) -> Benchmark:
    """Rendered objects (`RenderedObjects` layouts): the `test` split when splits.json has one, else all."""
    import json

    from PIL import Image

    from recon3r.data.format import DatasetError
    from recon3r.data.rendered_objects import RenderedObjects

    split = None
    splits_path = path / "splits.json"
    if splits_path.is_file():
        try:
            split = PROCEDURAL_SPLIT if PROCEDURAL_SPLIT in json.loads(splits_path.read_text()) else None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{splits_path}: not valid JSON ({err})") from None
    try:
        dataset = RenderedObjects(ROOT=str(path), split=split, num_views=None)
    except DatasetError as err:
        raise ConfigError(f"benchmark {spec!r} is not a rendered-objects folder (task novel_view needs one, e.g. "
                          f"written by `recon3r data make-objects`): {err}") from None
    scenes = []
    for record in dataset.objects:
        masks = []
        for image in record.images:
            with Image.open(image) as pil:
                alpha = np.asarray(pil.convert("RGBA"))[..., 3]
            masks.append(alpha >= 128)
        points = np.load(record.points_path).astype(np.float64) if record.points_path is not None else None
        scenes.append(BenchmarkScene(name=record.name, image_paths=list(record.images),
                                     world_from_cam=np.stack(record.world_from_cam),
                                     intrinsics=np.stack(record.intrinsics), kind="object", masks=masks,
                                     surface_points=points))
    which = f"split '{split}' of " if split else ""
    return Benchmark(name=path.name, spec=spec, scenes=scenes,
                     description=f"{len(scenes)} rendered objects ({which}{path})")


def _procedural_depth_maps(spec: str, size: int | None) -> Benchmark:
    from recon3r.eval.depth_to_3d import held_out_depth_views

    options = parse_procedural_spec(spec, "depth_to_3d", size)
    views = held_out_depth_views(options["scenes"], size=options["size"], seed=options["seed"], split=PROCEDURAL_SPLIT,
                                 kind=options["kind"], views=options["views"])
    what = "object-centric depth maps (depth on the object only)" if options["kind"] == OBJECT_KIND else \
        f"depth maps of `{options['kind']}` scenes"
    return Benchmark(name=f"procedural-depth-{PROCEDURAL_SPLIT}", spec=spec, scenes=views,
                     description=f"{len(views)} held-out procedural {what}, {options['size']} px, "
                     f"seed {options['seed']}, split '{PROCEDURAL_SPLIT}'",
                     meta={"procedural": options})


def _depth_maps_folder(path: Path, spec: str) -> Benchmark:
    """A Train-3D folder (depths/ + intrinsics/), or each view with depth of a recon3r multi-view folder."""
    from recon3r.eval.depth_to_3d import DepthView, read_depth_folder

    if (path / "depths").is_dir():
        views = read_depth_folder(path)
        return Benchmark(name=path.name, spec=spec, scenes=views,
                         description=f"{len(views)} depth maps in the Train-3D layout ({path})")
    if not ((path / "dataset.json").is_file() or (path / "scene.json").is_file()):
        raise ConfigError(f"benchmark {spec!r}: task depth_to_3d needs procedural:N, a folder with depths/*.npz and "
                          "intrinsics/*.npy (recon3r data depth3d), or a recon3r multi-view folder with depth")
    views = []
    for scene in _folder(path, spec).scenes:
        for v in range(len(scene)):
            if scene.has_depth(v) and scene.intrinsics is not None and not scene.depth_scale_free:
                depth = np.where(np.isfinite(scene.depths[v]), scene.depths[v], 0.0)
                views.append(DepthView(depth, np.asarray(scene.intrinsics[v], np.float64),
                                       name=f"{scene.name}/{scene.image_paths[v].stem}"))
    return Benchmark(name=path.name, spec=spec, scenes=views,
                     description=f"{len(views)} views with metric depth, each on its own ({path})")


def _folder(path: Path, spec: str) -> Benchmark:
    from recon3r.data.format import read_dataset, read_scene

    if (path / "dataset.json").is_file():
        index = read_dataset(path)
        scenes = [_from_record(read_scene(path / name)) for name in index.scenes]
        return Benchmark(name=path.name, spec=spec, scenes=scenes,
                         description=f"{len(scenes)} scenes in the recon3r multi-view format ({path})")
    if (path / "scene.json").is_file():
        scene = _from_record(read_scene(path))
        return Benchmark(name=path.name, spec=spec, scenes=[scene], description=f"one scene ({path})")
    from recon3r.eval.realsets import CalibratedImageSet, load_real_set

    real = load_real_set(path)
    if isinstance(real, CalibratedImageSet):
        scene = BenchmarkScene(name=real.name, image_paths=list(real.image_paths),
                               world_from_cam=real.world_from_cam, intrinsics=real.intrinsics, kind="orbit")
        return Benchmark(name=real.name, spec=spec, scenes=[scene],
                         description=f"{len(real)} real photos with calibrated K, R, t ({path})")
    right = np.eye(4)
    right[0, 3] = 1.0  # rectified stereo: the right camera sits at +x, baseline unknown
    scene = BenchmarkScene(name=real.name, image_paths=[real.left_path, real.right_path],
                           world_from_cam=np.stack([np.eye(4), right]),
                           depths=[real.depth, None], depth_scale_free=True, kind="pairs")
    return Benchmark(name=real.name, spec=spec, scenes=[scene],
                     description=f"a real rectified stereo pair with GT disparity, depth up to scale ({path})")


def _from_record(record) -> BenchmarkScene:
    depths = [record.depth(i) for i in range(len(record))]
    return BenchmarkScene(
        name=record.name,
        image_paths=[record.root / v.image for v in record.views],
        world_from_cam=record.world_from_cam,
        intrinsics=record.intrinsics,
        depths=depths if any(d is not None for d in depths) else None,
        kind=record.kind,
    )


def check_benchmark(benchmark: Benchmark, task: str) -> None:
    """Raise ConfigError naming the benchmark and scene when it lacks what `task` needs."""
    if not benchmark.scenes:
        raise ConfigError(f"benchmark {benchmark.spec!r} has no scenes" + (
            " (no depth map with enough valid pixels)" if task == "depth_to_3d" else ""))
    where = f"benchmark {benchmark.spec!r}"
    if task == "depth_to_3d":
        from recon3r.eval.depth_to_3d import DepthView

        if not all(isinstance(view, DepthView) for view in benchmark.scenes):
            raise ConfigError(f"{where}: task 'depth_to_3d' needs single depth maps with intrinsics")
        return
    for scene in benchmark.scenes:
        if task == "novel_view":
            if scene.kind != "object" or scene.world_from_cam is None or scene.intrinsics is None:
                raise ConfigError(f"{where}, scene {scene.name}: task 'novel_view' needs rendered objects with cameras")
            if len(scene) < 2:
                raise ConfigError(f"{where}, object {scene.name}: novel_view needs 2 or more renders, got {len(scene)}")
            odd = [p.name for p, m in zip(scene.image_paths, scene.masks or []) if m.shape[0] != m.shape[1]]
            if odd:
                raise ConfigError(f"{where}, object {scene.name}: render {odd[0]} is not square; novel_view renders "
                                  "square views (OpenLRM's renderer)")
            continue
        n = len(scene)
        if task in ("relpose", "trajectory", "mv_recon") and scene.world_from_cam is None:
            raise ConfigError(f"{where}, scene {scene.name}: no GT poses; task {task!r} needs them")
        if task == "relpose" and n < 2:
            raise ConfigError(f"{where}, scene {scene.name}: relpose needs 2 or more views, got {n}")
        if task == "trajectory" and n < 3:
            raise ConfigError(f"{where}, scene {scene.name}: trajectory needs 3 or more frames, got {n}")
        if task == "depth" and not any(scene.has_depth(v) for v in range(n)):
            raise ConfigError(f"{where}, scene {scene.name}: no GT depth; task 'depth' needs it")
        if task in ("video_depth", "mv_recon") and not all(scene.has_depth(v) for v in range(n)):
            raise ConfigError(f"{where}, scene {scene.name}: task {task!r} needs GT depth for every view")
        if task == "video_depth" and n < 2:
            raise ConfigError(f"{where}, scene {scene.name}: video_depth needs 2 or more frames, got {n}")
        if task == "mv_recon" and (scene.intrinsics is None or scene.depth_scale_free):
            raise ConfigError(f"{where}, scene {scene.name}: mv_recon needs metric GT depth and intrinsics")
