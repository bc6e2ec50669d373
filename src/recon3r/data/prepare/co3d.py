"""Raw CO3D v2 → the processed layout `recon3r.data.Co3d` reads (what DUSt3R's preprocess_co3d.py writes).

Raw layout, per category (CO3D v2 as downloaded)::

    RAW/<category>/frame_annotations.jgz     gzipped JSON list, one entry per frame: sequence_name,
                                             frame_number, image {path, size: [H, W]}, depth {path,
                                             scale_adjustment}, mask {path}, viewpoint {R, T,
                                             focal_length, principal_point, intrinsics_format}
    RAW/<category>/sequence_annotations.jgz  gzipped JSON list: sequence_name, viewpoint_quality_score
    RAW/<category>/set_lists/set_lists_<subset>.json   {"train" | "val" | "test": [[sequence, frame_number,
                                             image path], ...]}
    RAW/<category>/<sequence>/images/frameNNNNNN.jpg
    RAW/<category>/<sequence>/depths/frameNNNNNN.jpg.geometric.png   16-bit PNG whose bits are float16
                                             depth: depth = float16(value) · scale_adjustment
    RAW/<category>/<sequence>/masks/frameNNNNNN.png   foreground probability · 255

Selection, as DUSt3R's script does it: the frames listed under the split in the `fewview_train`
set lists (`manyview_dev` ones with `single_sequence_subset`), from sequences whose
viewpoint_quality_score exceeds `min_quality`, at most `num_sequences_per_object` sequences per
category drawn with `random.Random(seed + index of the category in CO3D's list)`, so the same
sequences come out as with the reference. Output (the `Co3d` loader's layout): per frame the
image (JPEG), the depth normalised by its maximum (16-bit PNG), the mask (PNG) and an npz with
`camera_intrinsics` (3×3, pixels), `camera_pose` (4×4 cam-to-world, OpenCV axes) and
`maximum_depth`; per split `selected_seqs_{split}.json` ({category: {sequence: [frame, ...]}}).
Pairs are not listed: `Co3d` draws them from the frame lists (DUSt3R's rule).

Each image is cropped around its principal point, then resized so that the full image's short
side would be img_size·3/4 (or its long side img_size, whichever is larger), as the reference
does. One deliberate difference: cameras follow recon3r's pixel-centre convention
(`opencv_from_pytorch3d`), half a pixel from the reference's principal point.

Resuming: a category whose `<category>/selected_seqs_{split}.json` exists is done; inside a
category, a frame whose npz exists (written last) is kept. Skipped frames and sequences are
listed with their reason in `skipped_frames.json`.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from recon3r.data.prepare import PrepareReport, write_json_atomic
from recon3r.errors import ConfigError

#: CO3D v2's categories in the order DUSt3R seeds its sequence sampling with.
CATEGORIES: tuple[str, ...] = (
    "apple", "backpack", "ball", "banana", "baseballbat", "baseballglove", "bench", "bicycle", "book", "bottle",
    "bowl", "broccoli", "cake", "car", "carrot", "cellphone", "chair", "couch", "cup", "donut", "frisbee",
    "hairdryer", "handbag", "hotdog", "hydrant", "keyboard", "kite", "laptop", "microwave", "motorcycle", "mouse",
    "orange", "parkingmeter", "pizza", "plant", "remote", "sandwich", "skateboard", "stopsign", "suitcase",
    "teddybear", "toaster", "toilet", "toybus", "toyplane", "toytrain", "toytruck", "tv", "umbrella", "vase",
    "wineglass",
)
_FRAME_NUMBER = re.compile(r"(\d+)\.\w+$")


@dataclass
class Co3dPrepareConfig:
    """`recon3r data co3d` options (flag names follow DUSt3R's preprocess_co3d.py)."""

    co3d_dir: str
    output_dir: str = "data/co3d_processed"
    single_sequence_subset: bool = False
    category: str | None = None  # None: every category folder of co3d_dir
    num_sequences_per_object: int = 50
    seed: int = 42
    min_quality: float = 0.5
    img_size: int = 512
    splits: Sequence[str] = ("train", "test")
    progress: bool = True


class _Skip(Exception):
    """A frame that cannot be prepared; the message says why."""


def prepare_co3d(config: Co3dPrepareConfig) -> PrepareReport:
    """Prepare every split of the selected categories (module docstring); returns what was done."""
    root, out = Path(config.co3d_dir), Path(config.output_dir)
    if not root.is_dir():
        raise ConfigError(f"--co3d_dir {root} is not a folder")
    if root.resolve() == out.resolve():
        raise ConfigError("--output_dir must differ from --co3d_dir")
    if config.img_size < 16:
        raise ConfigError(f"--img_size must be at least 16, got {config.img_size}")
    if config.category is not None:
        categories = [config.category]
        if not (root / config.category / "frame_annotations.jgz").is_file():
            raise ConfigError(f"--category {config.category}: no {root / config.category / 'frame_annotations.jgz'}")
    else:
        categories = sorted(d.name for d in root.iterdir() if (d / "frame_annotations.jgz").is_file())
        if not categories:
            raise ConfigError(f"--co3d_dir {root}: no category folder with a frame_annotations.jgz")
    report = PrepareReport()
    for split in config.splits:
        selected: dict[str, dict[str, list[int]]] = {}
        for category in categories:
            selected[category] = _prepare_category(config, root, out, category, split, report)
        write_json_atomic(out / f"selected_seqs_{split}.json", selected)
    report.write_skipped(out / "skipped_frames.json")
    return report


def _prepare_category(config: Co3dPrepareConfig, root: Path, out: Path, category: str, split: str,
                      report: PrepareReport) -> dict[str, list[int]]:
    done = out / category / f"selected_seqs_{split}.json"
    skipped_file = out / category / f"skipped_frames_{split}.json"
    if done.is_file():  # finished by an earlier run
        selected = json.loads(done.read_text(encoding="utf-8"))
        report.resumed += sum(len(frames) for frames in selected.values())
        if skipped_file.is_file():
            report.skipped += [(s["item"], s["reason"]) for s in json.loads(skipped_file.read_text(encoding="utf-8"))]
        return selected
    local = PrepareReport()
    entries = _set_list_entries(root / category, split, config.single_sequence_subset, local)
    frames = {(a["sequence_name"], int(a["frame_number"])): a for a in _read_jgz(root / category / "frame_annotations.jgz")}
    quality = {s["sequence_name"]: s.get("viewpoint_quality_score") for s in _read_jgz(root / category / "sequence_annotations.jgz")}
    sequences = sorted({seq for seq, _, _ in entries})
    good = []
    for seq in sequences:
        score = quality.get(seq)
        if score is None or not score > config.min_quality:
            local.skip(f"{category}/{seq}", f"viewpoint_quality_score {score} is not above --min_quality {config.min_quality}")
        else:
            good.append(seq)
    if len(good) > config.num_sequences_per_object:
        rng = random.Random(config.seed + (CATEGORIES.index(category) if category in CATEGORIES else 0))
        good = rng.sample(good, config.num_sequences_per_object)
    selected: dict[str, list[int]] = {seq: [] for seq in good}
    todo = [(seq, number, path) for seq, number, path in dict.fromkeys(entries) if seq in selected]
    from recon3r.utils.progress import progress

    for seq, number, image_path in progress(todo, desc=f"{split} {category}", total=len(todo), enabled=config.progress):
        match = _FRAME_NUMBER.search(image_path)
        frame = int(match.group(1)) if match else number
        item = f"{category}/{seq}/frame{frame:06d}"
        try:
            annotation = frames.get((seq, number))
            if annotation is None:
                raise _Skip(f"frame {number} is not in frame_annotations.jgz")
            resumed = _prepare_frame(root, out / category / seq, frame, image_path, annotation, config.img_size)
        except _Skip as skip:
            local.skip(item, str(skip))
            continue
        selected[seq].append(frame)
        if resumed:
            local.resumed += 1
        else:
            local.written += 1
    for seq in [s for s, f in selected.items() if not f]:
        local.skip(f"{category}/{seq}", "no frame of the sequence could be prepared")
        del selected[seq]
    write_json_atomic(skipped_file, [{"item": i, "reason": r} for i, r in local.skipped])
    write_json_atomic(done, selected)
    report.written += local.written
    report.resumed += local.resumed
    report.skipped += local.skipped
    return selected


def _set_list_entries(category_dir: Path, split: str, single_sequence: bool,
                      report: PrepareReport) -> list[tuple[str, int, str]]:
    folder = category_dir / "set_lists"
    subset = "manyview_dev" if single_sequence else "fewview_train"
    files = sorted(folder.glob(f"*{subset}*.json")) if folder.is_dir() else []
    if not files:
        report.skip(category_dir.name, f"no set_lists/*{subset}*.json")
        return []
    entries = []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries += [(str(seq), int(number), str(image)) for seq, number, image in data.get(split, [])]
        except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as err:
            raise ConfigError(f"{path}: not a CO3D set list ({{split: [[sequence, frame_number, path], ...]}}): {err}") from None
    return entries


def _read_jgz(path: Path) -> list[dict[str, Any]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"missing {path}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not a gzipped JSON list: {err}") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of annotations, got {type(data).__name__}")
    return data


def _prepare_frame(root: Path, seq_out: Path, frame: int, image_path: str, annotation: dict[str, Any],
                   img_size: int) -> bool:
    """Write one frame's four files; True when they were already there. Raises _Skip with the reason."""
    import torch

    from recon3r.data.augment import crop_to_principal_point, resize
    from recon3r.geometry import opencv_from_pytorch3d

    stem = f"frame{frame:06d}"
    targets = {
        "image": seq_out / "images" / f"{stem}.jpg",
        "depth": seq_out / "depths" / f"{stem}.jpg.geometric.png",
        "mask": seq_out / "masks" / f"{stem}.png",
        "meta": seq_out / "images" / f"{stem}.npz",
    }
    if all(p.is_file() for p in targets.values()):
        return True
    viewpoint = annotation.get("viewpoint")
    if not viewpoint:
        raise _Skip("no viewpoint (camera) annotation")
    fmt = viewpoint.get("intrinsics_format", "ndc_norm_image_bounds")
    if fmt not in ("ndc_isotropic", "ndc_norm_image_bounds"):
        raise _Skip(f"unknown intrinsics_format {fmt!r}")
    image = _open(root / image_path, "image").convert("RGB")
    height, width = (int(v) for v in annotation["image"]["size"])
    if image.size != (width, height):
        raise _Skip(f"image is {image.size[0]}×{image.size[1]}, the annotation says {width}×{height}")
    depth_info = annotation.get("depth") or {}
    if "path" not in depth_info:
        raise _Skip("no depth annotation")
    with _open(root / depth_info["path"], "depth map") as depth_png:
        bits = np.asarray(depth_png).astype(np.uint16)
    depth = bits.view(np.float16).astype(np.float32) * float(depth_info.get("scale_adjustment", 1.0))
    depth[~np.isfinite(depth) | (depth < 0)] = 0
    mask_rel = (annotation.get("mask") or {}).get("path") or image_path.replace("images", "masks").replace(".jpg", ".png")
    mask = np.asarray(_open(root / mask_rel, "mask").convert("L"), dtype=np.float32) / 255.0
    for name, array in (("depth map", depth), ("mask", mask)):
        if array.shape != (height, width):
            raise _Skip(f"{name} is {array.shape[1]}×{array.shape[0]}, the image {width}×{height}")

    f64 = torch.float64
    K, cam_from_world = opencv_from_pytorch3d(
        torch.tensor(viewpoint["R"], dtype=f64)[None], torch.tensor(viewpoint["T"], dtype=f64)[None],
        torch.tensor(viewpoint["focal_length"], dtype=f64)[None], torch.tensor(viewpoint["principal_point"], dtype=f64)[None],
        torch.tensor([height, width], dtype=f64)[None], isotropic=fmt == "ndc_isotropic",
    )
    intrinsics, pose = K[0].numpy(), np.linalg.inv(cam_from_world[0].numpy())
    try:
        image, intrinsics, (depth, mask) = crop_to_principal_point(image, intrinsics, depth, mask)
    except ValueError as err:
        raise _Skip(str(err)) from None
    image, intrinsics, (depth, mask) = resize(image, intrinsics, _output_size(width, height, *image.size, img_size),
                                              depth, mask)
    max_depth = float(depth.max())
    if not max_depth > 0:
        raise _Skip("no valid depth inside the crop")

    for path in targets.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    image.save(targets["image"], quality=95)
    Image.fromarray(np.round(depth / max_depth * 65535).astype(np.uint16)).save(targets["depth"])
    Image.fromarray(np.round(np.clip(mask, 0, 1) * 255).astype(np.uint8)).save(targets["mask"])
    tmp = targets["meta"].with_name(f".{stem}.tmp{os.getpid()}.npz")  # written last: its presence marks the frame done
    np.savez(tmp, camera_intrinsics=intrinsics.astype(np.float32), camera_pose=pose.astype(np.float32),
             maximum_depth=np.float32(max_depth))
    os.replace(tmp, targets["meta"])
    return False


def _output_size(width: int, height: int, crop_w: int, crop_h: int, img_size: int) -> tuple[int, int]:
    """DUSt3R's output size: the full image scaled so its short side is img_size·3/4 (long side at
    least img_size), then the crop scaled uniformly to cover that."""
    scale = (img_size * 3 // 4) / min(width, height) + 1e-8
    target = np.floor(np.array([width, height]) * scale)
    if target.max() < img_size:
        target = np.floor(np.array([width, height]) * (img_size / max(width, height) + 1e-8))
    crop_scale = max(target[0] / crop_w, target[1] / crop_h) + 1e-8
    return int(np.floor(crop_w * crop_scale)), int(np.floor(crop_h * crop_scale))


def _open(path: Path, what: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
        return image
    except FileNotFoundError:
        raise _Skip(f"missing {what} {path}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise _Skip(f"unreadable {what} {path}: {err}") from None
