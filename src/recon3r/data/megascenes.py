"""MegaScenes pairs with captions, in the layout of the multimodal seed's loader.

Two files, as the seed's `MegaScenes('<pair_info_path>', '<serialized_path>', split=...)` takes them:

- pair info: the list of image pairs, `[[image_a, image_b], ...]`, as JSON, or as a pickle of a
  list of 2-tuples (the seed's `subsampled_pairs.pkl`);
- serialized data: a mapping from image path to its record, as JSON or a pickle (the seed's
  `subsampled_dicts.pkl`), each record holding
    `extrinsics`  (4, 4) world-to-camera (OpenCV axes; inverted here to the cam-to-world pose),
    `intrinsics`  (3, 3) pixels of the image file,
    `pointxyz`    (N, 3) world points of the SfM tracks seen in the image (sparse depth),
    `caption`     optional str.

Image paths are used as written when absolute, otherwise relative to `image_root` (default: the
folder of the pair-info file). A view's caption is the record's `caption` if present, else, as the
seed does, the Wikimedia `commonmetadata` of the image found in `raw_metadata.json` two folders
above the image's folder ("name: value" pairs, joined by ", " here for the EXIF-as-language style;
the seed joined them with "; "), else "".

Pickles are read with a restricted unpickler that only builds containers and numpy arrays, so a
malicious file cannot run code. Depth is sparse: the track points are splatted into each view
after cropping, nearest point per pixel.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from recon3r.data.base import MultiViewDataset, RawView
from recon3r.data.format import DatasetError

_SAFE_GLOBALS = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = module.replace("numpy.core.", "numpy._core.")  # pickles written with numpy 1.x
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only containers and numpy arrays")
        return super().find_class(module, name)


def load_restricted_pickle(path: Path) -> Any:
    """Unpickle containers of numbers, strings and numpy arrays; refuse anything else."""
    try:
        return _RestrictedUnpickler(io.BytesIO(path.read_bytes())).load()
    except FileNotFoundError:
        raise DatasetError(f"MegaScenes: missing file {path}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as err:
        raise DatasetError(f"MegaScenes: cannot load {path}: {err}") from None


def _load(path: Path) -> Any:
    if path.suffix == ".json":
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DatasetError(f"MegaScenes: missing file {path}") from None
        except json.JSONDecodeError as err:
            raise DatasetError(f"MegaScenes: malformed JSON in {path}: {err}") from None
    if path.suffix in (".pkl", ".pickle"):
        return load_restricted_pickle(path)
    raise DatasetError(f"MegaScenes: {path} must be a .json or .pkl file")


class MegaScenes(MultiViewDataset):
    """MegaScenes image pairs with sparse SfM depth and captions (layout in the module docstring).

    Args:
        pair_info: the pair list file (.json or .pkl).
        serialized: the per-image records file (.json or .pkl).
        image_root: folder for relative image paths (default: the pair file's folder).
        split: a label only; each split has its own pair file.
        Other keyword arguments: see `MultiViewDataset`.
    """

    dataset_label = "MegaScenes"

    def __init__(self, pair_info: str, serialized: str, *, image_root: str | None = None, split: str = "train",
                 **kwargs: Any):
        super().__init__(split=split, **kwargs)
        self.pair_info, self.serialized = Path(pair_info), Path(serialized)
        self.image_root = Path(image_root) if image_root is not None else self.pair_info.parent
        pairs = _load(self.pair_info)
        if not isinstance(pairs, (list, tuple)) or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
            raise DatasetError(f"MegaScenes: {self.pair_info} must hold a list of [image_a, image_b] path pairs")
        records = _load(self.serialized)
        if not isinstance(records, dict):
            raise DatasetError(f"MegaScenes: {self.serialized} must map image paths to records")
        missing = sorted({p for pair in pairs for p in pair} - set(records))
        if missing:
            raise DatasetError(f"MegaScenes: {len(missing)} images of {self.pair_info} have no record in "
                               f"{self.serialized}, e.g. {missing[0]!r}")
        self.pairs = [tuple(p) for p in pairs]
        self.records = {key: self._check_record(key, rec) for key, rec in records.items()}
        self._metadata_cache: dict[Path, dict[str, str]] = {}

    def _check_record(self, key: str, record: Any) -> dict[str, Any]:
        try:
            out = {
                "extrinsics": np.asarray(record["extrinsics"], dtype=np.float64),
                "intrinsics": np.asarray(record["intrinsics"], dtype=np.float64),
                "pointxyz": np.asarray(record["pointxyz"], dtype=np.float64).reshape(-1, 3),
                "caption": record.get("caption"),
            }
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"MegaScenes: record {key!r} in {self.serialized} needs extrinsics (4×4), "
                               f"intrinsics (3×3) and pointxyz (N×3): {err}") from None
        if out["extrinsics"].shape != (4, 4) or out["intrinsics"].shape != (3, 3):
            raise DatasetError(f"MegaScenes: record {key!r} in {self.serialized}: extrinsics must be 4×4 and "
                               f"intrinsics 3×3, got {out['extrinsics'].shape} and {out['intrinsics'].shape}")
        return out

    def __len__(self) -> int:
        return len(self.pairs)

    def item_views(self, idx: int, rng: np.random.Generator) -> list[RawView]:
        return [self.load_image(key) for key in self.pairs[idx]]

    def image_path(self, key: str) -> Path:
        path = Path(key)
        return path if path.is_absolute() else self.image_root / path

    def load_image(self, key: str) -> RawView:
        record = self.records[key]
        path = self.image_path(key)
        try:
            with Image.open(path) as img:
                image = img.convert("RGB")
        except FileNotFoundError:
            raise DatasetError(f"MegaScenes: missing image {path} (listed in {self.pair_info})") from None
        except (UnidentifiedImageError, OSError) as err:
            raise DatasetError(f"MegaScenes: cannot read image {path}: {err}") from None
        caption = record["caption"] if isinstance(record["caption"], str) else self.metadata_caption(path)
        return RawView(image=image, depth=None, intrinsics=record["intrinsics"],
                       world_from_cam=np.linalg.inv(record["extrinsics"]), label=str(Path(key).parent),
                       instance=Path(key).name, caption=caption, points=record["pointxyz"])

    def metadata_caption(self, image_path: Path) -> str:
        """The seed's caption: the image's Wikimedia commonmetadata from raw_metadata.json, or ""."""
        if len(image_path.parents) < 3:
            return ""
        meta_path = image_path.parents[2] / "raw_metadata.json"
        if meta_path not in self._metadata_cache:
            self._metadata_cache[meta_path] = _read_metadata(meta_path)
        return self._metadata_cache[meta_path].get(image_path.name, "")


def _read_metadata(path: Path) -> dict[str, str]:
    """{file name: "name: value, ..."} from a Wikimedia raw_metadata.json; {} if absent or malformed."""
    return {title: ", ".join(f"{name}: {value}" for name, value in items.items())
            for title, items in read_commonmetadata(path).items()}


def read_commonmetadata(path: Path) -> dict[str, dict[str, object]]:
    """{file name: {field name: value}} of each image's `commonmetadata` (EXIF fields, among others)
    in a Wikimedia raw_metadata.json; {} if the file is absent or malformed."""
    try:
        elements = json.loads(path.read_text(encoding="utf-8"))["elements"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        return {}
    out = {}
    for page in elements if isinstance(elements, list) else []:
        for entry in page.values() if isinstance(page, dict) else []:
            try:
                items = entry["imageinfo"][0]["commonmetadata"]
                title = entry["title"].split(":", 1)[1]
                out[title] = {item["name"]: item["value"] for item in items}
            except (KeyError, IndexError, TypeError, AttributeError):
                continue
    return out
