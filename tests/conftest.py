"""Shared test settings and fixtures.

One torch thread keeps tiny-model tests fast and steady on small CI machines.

Reference data beside the repository (`../shared`: golden fixtures recorded from the reference
implementation, real photos) is reached only through `shared_path` (function and fixture) and the
`golden_case` parameter, so that a clone of the repository alone passes: tests that need a missing
`../shared/<set>` skip with a reason naming it. CI (`.ci/run`) refuses to start without them.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)

#: `../shared` seen from the repository root: read-only, never copied into the repository.
SHARED_ROOT = Path(__file__).resolve().parents[1].parent / "shared"
#: What each top-level set under ../shared holds (for skip reasons).
SHARED_SETS = {
    "golden": "reference fixtures",
    "golden_lrm": "reference fixtures",
    "golden_point3r": "reference fixtures",
    "data": "real photos and benchmark sets",
}


def shared_path(*parts: str) -> Path:
    """`../shared/<parts...>`; skips the calling test when the set `../shared/<parts[0]>` is absent.

    Only a missing set skips: inside a present set a missing file is a broken fixture and fails.
    """
    if not parts:
        raise ValueError("shared_path needs the set's name, e.g. shared_path('golden')")
    top = SHARED_ROOT / parts[0]
    if not top.is_dir():
        pytest.skip(f"needs ../shared/{parts[0]} ({SHARED_SETS.get(parts[0], 'reference data')} beside the repo)")
    return top.joinpath(*parts[1:])


@pytest.fixture(name="shared_path", scope="session")
def shared_path_fixture():
    """The `shared_path(*parts)` function, for test modules (which cannot import this conftest)."""
    return shared_path


def pytest_generate_tests(metafunc):
    """`golden_case`: one parameter per case folder in ../shared/golden (one skipped parameter without it)."""
    if "golden_case" not in metafunc.fixturenames:
        return
    golden = SHARED_ROOT / "golden"
    if golden.is_dir():
        cases = sorted(p.parent.name for p in golden.glob("*/config.json"))
    else:
        reason = f"needs ../shared/golden ({SHARED_SETS['golden']} beside the repo)"
        cases = [pytest.param("missing", marks=pytest.mark.skip(reason=reason))]
    metafunc.parametrize("golden_case", cases)


class Golden:
    """Lazy view of one golden .npz: `golden["key"]` is a torch tensor."""

    def __init__(self, path: Path):
        self._data = np.load(path)

    def __getitem__(self, key: str) -> torch.Tensor:
        return torch.from_numpy(np.array(self._data[key]))


@pytest.fixture(scope="session")
def golden_geometry() -> Golden:
    """The reference's geometry helpers on recorded inputs (../shared/golden/geometry.npz)."""
    return Golden(shared_path("golden", "geometry.npz"))


@pytest.fixture(scope="session")
def golden_more() -> Golden:
    """More recorded geometry, alignment and focal cases (../shared/golden/geometry_more.npz)."""
    return Golden(shared_path("golden", "geometry_more.npz"))

# A tiny pair model at the 224 inference layout: milliseconds per pair on a CPU.
TINY_PAIR_MODEL = dict(enc_embed_dim=32, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, dec_num_heads=2,
                       img_size=(224, 224), head_type="linear", pos_embed="RoPE100", landscape_only=False)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A folder with model.safetensors + config.json of a tiny seeded random-weight pair model."""
    from recon3r.models import build_model, save_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_weights")
    save_model(build_model("AsymmetricCroCo3DStereo", TINY_PAIR_MODEL), folder)
    return folder


@pytest.fixture(scope="session")
def photo_paths(tmp_path_factory):
    """Three 400x300 PNGs of one random colour texture, shifted sideways (a camera pan)."""
    folder = tmp_path_factory.mktemp("photos")
    base = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    paths = []
    for k in range(3):
        path = folder / f"view_{k}.png"
        Image.fromarray(np.roll(base, 12 * k, axis=1)).save(path)
        paths.append(path)
    return paths


# ---------------------------------------------------------------- raw datasets, written in their real formats
def _look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) cam_from_world, OpenCV axes, of a camera at `centre` looking at `target` (world z up)."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, -rotation @ centre
    return pose


def _plane_depth(K: np.ndarray, cam_from_world: np.ndarray, normal: np.ndarray, offset: float,
                 width: int, height: int) -> np.ndarray:
    """Depth (z) at every pixel centre of the plane {X: normal·X = offset}; pixel centres at integers."""
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, dtype=float)], -1)
    rotation, translation = cam_from_world[:3, :3], cam_from_world[:3, 3]
    centre = -rotation.T @ translation
    directions = rays @ rotation  # world directions of the rays (z = 1 in the camera)
    return (offset - normal @ centre) / (directions @ normal)


CO3D_PLANE = (np.array([0.0, 0.3, 1.0]) / np.linalg.norm([0.0, 0.3, 1.0]), -0.2)  # world plane n·X = d


def write_raw_co3d(root, categories=("apple", "ball"), sequences=2, frames=4, size=(72, 48),
                   single_sequence=True, broken=True):
    """A CO3D v2 folder: per category frame/sequence annotations (.jgz), set lists, images, depths, masks.

    Every frame sees the plane CO3D_PLANE; cameras are stored in PyTorch3D's NDC convention
    (isotropic), depth as 16-bit PNGs holding float16 bits (scale_adjustment 1 for the first
    category, 2 for the others), masks as 8-bit PNGs. With `broken`, sequence 0 of the first
    category loses one depth file and an extra sequence has a low viewpoint quality score.
    Returns {category: {sequence: [image frame numbers]}} of the frames that can be prepared.
    """
    import gzip
    import json
    from pathlib import Path

    root = Path(root)
    width, height = size
    half = min(width, height) / 2
    normal, offset = CO3D_PLANE
    rng = np.random.default_rng(0)
    expected = {}
    flip = np.diag([-1.0, -1.0, 1.0])
    for c, category in enumerate(categories):
        scale_adjustment = 1.0 if c == 0 else 2.0
        frame_annotations, sequence_annotations, set_list = [], [], []
        names = [f"{100 + c}_{s}_seq" for s in range(sequences)] + (["999_low_quality"] if broken else [])
        expected[category] = {}
        for s, seq in enumerate(names):
            sequence_annotations.append({"sequence_name": seq, "category": category,
                                         "viewpoint_quality_score": 0.1 if seq.startswith("999") else 0.9})
            for k in range(frames):
                angle = 0.4 * k + 0.7 * s + c
                centre = np.array([2.5 * np.cos(angle), 2.5 * np.sin(angle), 1.8])
                cam_from_world = _look_at(centre, np.array([0.0, 0.0, -0.2]))
                focal = 0.9 * width
                K = np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1.0]])
                depth = _plane_depth(K, cam_from_world, normal, offset, width, height)
                rel = f"{category}/{seq}"
                stem = f"frame{k + 1:06d}"
                for sub in ("images", "depths", "masks"):
                    (root / rel / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(root / rel / "images" / f"{stem}.jpg")
                bits = (depth / scale_adjustment).astype(np.float16).view(np.uint16)
                depth_path = root / rel / "depths" / f"{stem}.jpg.geometric.png"
                if not (broken and c == 0 and s == 0 and k == 1):
                    Image.fromarray(bits).save(depth_path)
                    if not seq.startswith("999"):
                        expected[category].setdefault(seq, []).append(k + 1)
                mask = np.zeros((height, width), np.uint8)
                mask[2:-2, 2:-2] = 255
                Image.fromarray(mask).save(root / rel / "masks" / f"{stem}.png")
                R = cam_from_world[:3, :3].T @ flip  # PyTorch3D: X_cam = X_world @ R + T, x left, y up
                T = flip @ cam_from_world[:3, 3]
                principal = [((width - 1) / 2 + 0.5 - width / 2) / -half, ((height - 1) / 2 + 0.5 - height / 2) / -half]
                frame_annotations.append({
                    "sequence_name": seq, "frame_number": k, "frame_timestamp": 0.1 * k,
                    "image": {"path": f"{rel}/images/{stem}.jpg", "size": [height, width]},
                    "depth": {"path": f"{rel}/depths/{stem}.jpg.geometric.png", "scale_adjustment": scale_adjustment,
                              "mask_path": f"{rel}/depth_masks/{stem}.png"},
                    "mask": {"path": f"{rel}/masks/{stem}.png", "mass": float(mask.sum() / 255)},
                    "viewpoint": {"R": R.tolist(), "T": T.tolist(), "focal_length": [focal / half, focal / half],
                                  "principal_point": principal, "intrinsics_format": "ndc_isotropic"},
                    "meta": {},
                })
                split = "test" if k == frames - 1 else "train"
                set_list.append((split, [seq, k, f"{rel}/images/{stem}.jpg"]))
        with gzip.open(root / category / "frame_annotations.jgz", "wt", encoding="utf-8") as handle:
            json.dump(frame_annotations, handle)
        with gzip.open(root / category / "sequence_annotations.jgz", "wt", encoding="utf-8") as handle:
            json.dump(sequence_annotations, handle)
        (root / category / "set_lists").mkdir(exist_ok=True)
        subset = "manyview_dev_0" if single_sequence else "fewview_train"
        lists = {"train": [e for sp, e in set_list if sp == "train"], "val": [],
                 "test": [e for sp, e in set_list if sp == "test"]}
        (root / category / "set_lists" / f"set_lists_{subset}.json").write_text(json.dumps(lists))
        for seq in expected[category]:
            expected[category][seq] = [f for f in expected[category][seq] if f != frames]  # the test frame
    return expected


@pytest.fixture(scope="session")
def raw_co3d():
    """`write_raw_co3d(root, ...)`: a raw CO3D v2 fixture writer (see its docstring)."""
    return write_raw_co3d


def _write_colmap_model(folder, cameras, images, points):
    """COLMAP's binary model files (cameras.bin, images.bin, points3D.bin) in the classic layout.

    cameras: [(id, model_id, width, height, params)]; images: [(id, qvec wxyz, tvec, camera_id, name,
    [(x, y, point3D_id or -1)])]; points: [(id, xyz, [(image_id, point2D_index)])].
    """
    import struct
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "cameras.bin", "wb") as f:
        f.write(struct.pack("<Q", len(cameras)))
        for cid, model, w, h, params in cameras:
            f.write(struct.pack("<iiQQ", cid, model, w, h) + struct.pack(f"<{len(params)}d", *params))
    with open(folder / "images.bin", "wb") as f:
        f.write(struct.pack("<Q", len(images)))
        for iid, qvec, tvec, cid, name, points2d in images:
            f.write(struct.pack("<i7di", iid, *qvec, *tvec, cid) + name.encode() + b"\0")
            f.write(struct.pack("<Q", len(points2d)))
            for x, y, pid in points2d:
                f.write(struct.pack("<ddq", x, y, pid))
    with open(folder / "points3D.bin", "wb") as f:
        f.write(struct.pack("<Q", len(points)))
        for pid, xyz, track in points:
            f.write(struct.pack("<Q3d3Bd", pid, *xyz, 128, 128, 128, 0.5) + struct.pack("<Q", len(track)))
            for iid, idx in track:
                f.write(struct.pack("<ii", iid, idx))


def _quaternion_wxyz(rotation: np.ndarray) -> list[float]:
    w = np.sqrt(max(1e-12, 1 + np.trace(rotation))) / 2
    return [w, (rotation[2, 1] - rotation[1, 2]) / (4 * w), (rotation[0, 2] - rotation[2, 0]) / (4 * w),
            (rotation[1, 0] - rotation[0, 1]) / (4 * w)]


def write_raw_megascenes(root, scene_id=7, size=(64, 48)):
    """A one-scene MegaScenes folder: reconstruct/000/007/sparses/0/*.bin and images/000/007/commons/....

    Images 0-3 see overlapping sets of 40 world points (image 4 shares 2 of its points: below a
    0.1 overlap), image 5 is listed but its file is missing, image 6 sees no 3D point. Image 2's
    file is twice the camera's size. raw_metadata.json holds EXIF fields for images 0-2; image 3
    carries its camera EXIF in the JPEG itself. Returns {"names": [image names], "K": camera K
    (COLMAP convention), "cam_from_world": {name: (4, 4)}, "observations": {name: [(x, y, xyz)]}}.
    """
    import json
    from pathlib import Path

    root = Path(root)
    scene = f"{scene_id:06d}"
    scene = f"{scene[:3]}/{scene[3:]}"
    width, height = size
    focal = 60.0
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])  # COLMAP: corner at 0
    rng = np.random.default_rng(1)
    world = rng.uniform([-1.5, -1.5, -0.5], [1.5, 1.5, 0.5], size=(120, 3))
    sees = {0: range(0, 40), 1: range(10, 50), 2: range(20, 60), 3: range(5, 45), 4: list(range(38, 40)) + list(range(80, 118)),
            5: range(0, 40), 6: []}
    subcat = "Test_building"
    pictures = root / "images" / scene / "commons" / subcat / "0" / "pictures"
    pictures.mkdir(parents=True, exist_ok=True)
    images, names, poses, observations = [], [], {}, {}
    tracks: dict[int, list[tuple[int, int]]] = {}
    for i, seen in sees.items():
        angle = 0.25 * i
        pose = _look_at(np.array([4.0 * np.cos(angle), 4.0 * np.sin(angle), 1.0]), np.zeros(3))
        name = f"commons/{subcat}/0/pictures/photo_{i}.jpg"
        names.append(name)
        poses[name] = pose
        points2d, obs = [], []
        for pid in seen:
            cam = pose[:3, :3] @ world[pid] + pose[:3, 3]
            x, y = (K @ cam)[:2] / cam[2]
            tracks.setdefault(pid, []).append((i + 1, len(points2d)))
            points2d.append((x, y, pid + 1))
            obs.append((x, y, world[pid]))
        points2d.append((1.0, 1.0, -1))  # a keypoint without a 3D point
        observations[name] = obs
        images.append((i + 1, _quaternion_wxyz(pose[:3, :3]), pose[:3, 3].tolist(), 1, name, points2d))
        if i == 5:
            continue  # listed in images.bin, file missing
        scale = 2 if i == 2 else 1
        photo = Image.fromarray(rng.integers(0, 255, (height * scale, width * scale, 3), dtype=np.uint8))
        if i == 3:
            exif = Image.Exif()
            exif[0x010F], exif[0x0110] = "Nikon", "D750"  # Make, Model
            exif.get_ifd(0x8769)[0x920A] = 24.0  # FocalLength
            photo.save(pictures / f"photo_{i}.jpg", exif=exif)
        else:
            photo.save(pictures / f"photo_{i}.jpg")
    points = [(pid + 1, world[pid].tolist(), track) for pid, track in tracks.items()]
    _write_colmap_model(root / "reconstruct" / scene / "sparses" / "0",
                        [(1, 1, width, height, [focal, focal, width / 2, height / 2])], images, points)
    metadata = {"elements": [{str(100 + i): {"title": f"File:photo_{i}.jpg", "imageinfo": [{"commonmetadata": [
        {"name": "Make", "value": "Canon"}, {"name": "Model", "value": f"Canon EOS {i}D"},
        {"name": "FocalLength", "value": f"{35 + i}"}, {"name": "FNumber", "value": "28/10"},
        {"name": "ExposureTime", "value": "1/250"}, {"name": "PhotographicSensitivity", "value": 200},
        {"name": "Artist", "value": "someone"}]}]}} for i in range(3)]}
    (pictures.parent.parent / "raw_metadata.json").write_text(json.dumps(metadata))
    (pictures.parent.parent / "category.json").write_text(json.dumps({"name": subcat}))
    return {"names": names, "K": K, "cam_from_world": poses, "observations": observations, "scene": scene}


@pytest.fixture(scope="session")
def raw_megascenes():
    """`write_raw_megascenes(root, ...)`: a raw one-scene MegaScenes fixture writer (see its docstring)."""
    return write_raw_megascenes


# ---------------------------------------------------------------- a CroCo v2 checkpoint in the released layout
def _tiny_croco_net(enc_embed_dim, enc_depth, enc_num_heads, dec_embed_dim, dec_depth, dec_num_heads, **_):
    """CroCoNet's modules under their official names at a tiny size: masked-image pre-training keeps one
    decoder and a `prediction_head` that reconstructs 16×16×3 pixels per token."""
    from torch import nn

    from recon3r.models.layers.blocks import Block, DecoderBlock, layer_norm
    from recon3r.models.layers.patch_embed import make_patch_embed
    from recon3r.models.layers.rope import RoPE2D

    rope = RoPE2D(100)
    croco = nn.Module()
    croco.mask_token = nn.Parameter(torch.randn(1, 1, dec_embed_dim))
    croco.patch_embed = make_patch_embed("PatchEmbedDust3R", 224, 16, enc_embed_dim)
    croco.enc_blocks = nn.ModuleList([Block(enc_embed_dim, enc_num_heads, rope=rope) for _ in range(enc_depth)])
    croco.enc_norm = layer_norm(enc_embed_dim)
    croco.decoder_embed = nn.Linear(enc_embed_dim, dec_embed_dim)
    croco.dec_blocks = nn.ModuleList([DecoderBlock(dec_embed_dim, dec_num_heads, rope=rope) for _ in range(dec_depth)])
    croco.dec_norm = layer_norm(dec_embed_dim)
    croco.prediction_head = nn.Linear(dec_embed_dim, 16 * 16 * 3)
    return croco


def write_croco_release(path, croco_kwargs, with_kwargs=True, with_args=True, seed=5):
    """A .pth in CroCo's released layout around a tiny random CroCoNet: the state dict under `model`, the
    architecture under `croco_kwargs`, the pre-training arguments as an argparse Namespace under `args`.
    Returns the CroCo-shaped module."""
    import argparse

    torch.manual_seed(seed)
    croco = _tiny_croco_net(**croco_kwargs)
    ckpt = {"model": croco.state_dict()}
    if with_kwargs:
        ckpt["croco_kwargs"] = dict(croco_kwargs)
    if with_args:
        model = "CroCoNet(" + ", ".join(f"{k}={v!r}" for k, v in croco_kwargs.items()) + ")"
        ckpt["args"] = argparse.Namespace(model=model, batch_size=64, lr=1.5e-4, epochs=400, output_dir="./output/",
                                          dataset="habitat_release")
        ckpt["epoch"] = 399
    torch.save(ckpt, path)
    return croco


@pytest.fixture(scope="session")
def croco_release():
    """`write_croco_release(path, croco_kwargs, ...)` (see its docstring)."""
    return write_croco_release


def write_sens(path, depths_mm, colours, depth_k, color_k, poses, depth_shift=1000.0, depth_compression=1,
               color_compression=2):
    """A ScanNet `.sens` file in the SensorData layout (version 4, little-endian): uint16 depth frames
    (zlib when `depth_compression` is 1, raw when 0), colour frames (JPEG when 2, PNG when 1), 4×4 float32
    intrinsics (depth and colour) and cam-to-world poses."""
    import io
    import struct
    import zlib

    from PIL import Image

    (dh, dw), (ch, cw) = depths_mm[0].shape, colours[0].shape[:2]
    with open(path, "wb") as handle:
        name = b"StructureSensor"
        handle.write(struct.pack("<IQ", 4, len(name)) + name)
        for matrix in (color_k, np.eye(4), depth_k, np.eye(4)):
            full = np.eye(4)
            full[: np.asarray(matrix).shape[0], : np.asarray(matrix).shape[1]] = matrix
            handle.write(struct.pack("<16f", *full.astype(np.float32).ravel()))
        handle.write(struct.pack("<iiIIIIfQ", color_compression, depth_compression, cw, ch, dw, dh, depth_shift,
                                 len(depths_mm)))
        for t, (depth, colour, pose) in enumerate(zip(depths_mm, colours, poses)):
            raw = np.ascontiguousarray(depth, dtype="<u2").tobytes()
            depth_bytes = zlib.compress(raw) if depth_compression == 1 else raw
            buffer = io.BytesIO()
            Image.fromarray(colour).save(buffer, format="JPEG" if color_compression == 2 else "PNG", quality=95)
            color_bytes = buffer.getvalue()
            handle.write(struct.pack("<16f", *np.asarray(pose, dtype=np.float32).ravel()))
            handle.write(struct.pack("<QQQQ", 1000 * t, 1000 * t + 1, len(color_bytes), len(depth_bytes)))
            handle.write(color_bytes + depth_bytes)


def _depth3d_depth(shape, seed, low=0.5, high=4.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape)


def write_raw_depth3d(root, scenes=2, frames=2, size=(16, 12)):
    """Tiny raw ScanNet, 3D Ken Burns and Taskonomy roots under `root`, in their real formats; returns
    {"scannet": path, "kenburns": path, "taskonomy": path, "truth": {(dataset, scene, item): (depth m, valid, K)}}.

    Every map has a few invalid pixels of its dataset's kinds: 0 (ScanNet), NaN / inf / 0 (Ken Burns EXR),
    65535 (Taskonomy). Ken Burns uses the Train-3D README layout (depths/<scene>/<scan>.exr +
    rgb/<scene>/<scan>.json); Taskonomy the dataset's file names.
    """
    import json

    import OpenEXR
    from PIL import Image

    root = Path(root)
    width, height = size
    truth = {}
    k_depth = np.array([[14.0, 0.0, 7.5], [0.0, 14.5, 5.5], [0.0, 0.0, 1.0]])
    k_color = np.array([[28.0, 0.0, 15.5], [0.0, 29.0, 11.5], [0.0, 0.0, 1.0]])
    for s in range(scenes):
        name = f"scene{s:04d}_00"
        folder = root / "scannet" / "scans" / name
        folder.mkdir(parents=True)
        depths = []
        for f in range(frames):
            mm = np.round(_depth3d_depth((height, width), [s, f]) * 1000).astype(np.uint16)
            mm[0, : 2 + f] = 0
            depths.append(mm)
            truth[("scannet", name, str(f))] = (mm / 1000.0, mm > 0, k_depth)
        colours = [np.full((2 * height, 2 * width, 3), 40 * (f + 1), np.uint8) for f in range(frames)]
        poses = [np.eye(4) for _ in range(frames)]
        for f, pose in enumerate(poses):
            pose[:3, 3] = [f, s, 0.5]
        write_sens(folder / f"{name}.sens", depths, colours, k_depth, k_color, poses)

        scene = f"kb_scene{s}"
        (root / "kenburns" / "depths" / scene).mkdir(parents=True)
        (root / "kenburns" / "rgb" / scene).mkdir(parents=True)
        for f in range(frames):
            mm = (_depth3d_depth((height, height), [s, f, 1]) * 1000).astype(np.float32)
            mm[0, 0], mm[0, 1], mm[1, 0] = np.nan, np.inf, 0.0
            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
            with OpenEXR.File(header, {"Z": mm}) as exr:
                exr.write(str(root / "kenburns" / "depths" / scene / f"scan{f:02d}.exr"))
            fov = 50.0 + 10 * f
            (root / "kenburns" / "rgb" / scene / f"scan{f:02d}.json").write_text(json.dumps({"intSample": f, "fltFov": fov}))
            valid = np.isfinite(mm) & (mm > 0)
            focal = height / 2 / np.tan(np.radians(fov) / 2)
            k = np.array([[focal, 0, (height - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]])
            truth[("kenburns", scene, f"depths/{scene}/scan{f:02d}.exr")] = (
                np.where(valid, mm.astype(np.float64), 0) * 0.001, valid, k)

        scene = f"tk_scene{s}"
        depth_dir = root / "taskonomy" / "depth_zbuffer" / "taskonomy" / scene
        info_dir = root / "taskonomy" / "point_info" / "taskonomy" / scene
        depth_dir.mkdir(parents=True)
        info_dir.mkdir(parents=True)
        for f in range(frames):
            raw = np.round(_depth3d_depth((height, height), [s, f, 2]) * 512).astype(np.uint16)
            raw[-1, :3] = 65535
            stem = f"point_{f}_view_0_domain"
            Image.fromarray(raw).save(depth_dir / f"{stem}_depth_zbuffer.png")
            fov = 0.9 + 0.1 * f
            (info_dir / f"{stem}_point_info.json").write_text(json.dumps({"field_of_view_rads": fov, "point_uuid": f}))
            focal = height / 2 / np.tan(fov / 2)
            k = np.array([[focal, 0, (height - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]])
            valid = raw != 65535
            truth[("taskonomy", scene, f"depth_zbuffer/taskonomy/{scene}/{stem}_depth_zbuffer.png")] = (
                np.where(valid, raw / 512.0, 0), valid, k)
    return {"scannet": root / "scannet", "kenburns": root / "kenburns", "taskonomy": root / "taskonomy",
            "truth": truth}


@pytest.fixture
def raw_depth3d(tmp_path):
    """Raw ScanNet / Ken Burns / Taskonomy roots (two scenes of two maps each) from `write_raw_depth3d`."""
    pytest.importorskip("OpenEXR", reason="the Ken Burns fixture writes EXR with the OpenEXR package (recon3r[exr])")
    return write_raw_depth3d(tmp_path / "raw")
