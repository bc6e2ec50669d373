"""The sim-to-real generator: photo textures with provenance, new capture kinds, photometric realism.

Most tests use a small fake package tree (synthetic "photos", dpkg file lists, a DEP-5 copyright
file and a Plasma metadata.json) so that they run without the wallpaper packages; one test checks
the real packages when they are installed (`make textures`).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from recon3r.cli import main
from recon3r.data import Procedural, read_dataset
from recon3r.data.format import read_scene
from recon3r.data.procedural import generate as generate_module
from recon3r.data.procedural import generate_scene, write_procedural
from recon3r.data.procedural.texture_library import find_photo_textures

MATE_COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: MATE Backgrounds

Files: *
Copyright: 2008, Anyone
License: GPL-2+

Files: nature/Second.jpg
Copyright: 2012, Somebody Else <else@example.org>
License: CC-BY-SA-4.0

Files: nature/Closed.jpg
Copyright: 2020, A Company
License: Proprietary
"""


def _photo(path: Path, seed: int) -> None:
    """A smooth random colour image standing in for a photograph."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, size=(6, 9, 3)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(small).resize((180, 120), Image.Resampling.BICUBIC).save(path, quality=92)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    """A root holding mate-backgrounds (3 photos, one non-free) and one Plasma wallpaper (2 resolutions)."""
    root = tmp_path_factory.mktemp("fake_root")
    mate = ["/usr/share/backgrounds/mate/nature/First.jpg", "/usr/share/backgrounds/mate/nature/Second.jpg",
            "/usr/share/backgrounds/mate/nature/Closed.jpg"]
    plasma = ["/usr/share/wallpapers/Path/contents/images/640x480.jpg",
              "/usr/share/wallpapers/Path/contents/images/1280x800.jpg"]
    for seed, name in enumerate(mate + plasma):
        _photo(root / name.lstrip("/"), seed)
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (info / "mate-backgrounds.list").write_text("\n".join(["/.", "/usr/share/backgrounds/mate", *mate]) + "\n")
    (info / "plasma-workspace-wallpapers.list").write_text("\n".join(plasma) + "\n")
    (root / "var/lib/dpkg/status").write_text("Package: mate-backgrounds\nStatus: install ok installed\n"
                                               "Version: 1.26.0-1\n\nPackage: other\nVersion: 9\n")
    doc = root / "usr/share/doc/mate-backgrounds"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(MATE_COPYRIGHT)
    meta = {"KPlugin": {"Authors": [{"Email": "r@example.org", "Name": "R. Photographer"}], "License": "LGPLv3",
                        "Name": "Path"}}
    (root / "usr/share/wallpapers/Path/metadata.json").write_text(json.dumps(meta))
    return root


def test_photo_library_reads_each_files_licence_from_its_package(fake_root):
    library = {t.id.split("/")[-1]: t for t in find_photo_textures(fake_root)}
    # The non-free file is left out, and the Plasma wallpaper counts once (its largest resolution).
    assert sorted(library) == ["1280x800.jpg", "First.jpg", "Second.jpg"]
    first, second, plasma = library["First.jpg"], library["Second.jpg"], library["1280x800.jpg"]
    assert (first.license, first.copyright, first.version) == ("GPL-2+", "2008, Anyone", "1.26.0-1")
    assert (second.license, second.copyright) == ("CC-BY-SA-4.0", "2012, Somebody Else <else@example.org>")
    assert (plasma.package, plasma.license, plasma.copyright) == (
        "plasma-workspace-wallpapers", "LGPLv3", "R. Photographer <r@example.org>")
    assert plasma.version is None  # not in the fake dpkg status
    record = second.provenance()
    assert record["sha256"] == hashlib.sha256(Path(second.path).read_bytes()).hexdigest()
    assert record["source"].startswith("https://") and "path" not in record


def test_the_installed_wallpaper_packages_give_freely_licensed_photos():
    listing = Path("/var/lib/dpkg/info/mate-backgrounds.list")
    if not listing.is_file():
        pytest.skip(f"{listing} is missing: the photo packages are not installed (make textures)")
    library = find_photo_textures()
    assert len(library) >= 12
    assert all(t.license != "unknown" and t.copyright != "unknown" and t.version for t in library)


@pytest.mark.parametrize("kind", ["object", "forward", "indoor"])
def test_written_depth_and_cameras_reproject_exactly_across_views(tmp_path, fake_root, kind, reproject):
    """The stored GT of photo-textured, camera-developed scenes is exact: points unprojected from one
    view's depth land on another view's depth wherever both see the same plane."""
    write_procedural(tmp_path, scenes=2, views=3, size=64, seed=1, kind=kind, textures="photo", photometric=True,
                     texture_root=fake_root)
    candidates = agreeing = in_front = 0
    for name in read_dataset(tmp_path).scenes:
        record = read_scene(tmp_path / name)
        cameras = [SimpleNamespace(intrinsics=v.intrinsics, world_from_cam=v.world_from_cam) for v in record.views]
        renders = [SimpleNamespace(depth=record.depth(v)) for v in range(len(record))]
        for a, b in [(0, 1), (1, 2), (2, 0)]:
            c, ok, front = reproject(SimpleNamespace(cameras=cameras), renders, a, b)
            candidates, agreeing, in_front = candidates + c, agreeing + ok, in_front + front
    assert in_front <= 0.002 * candidates
    assert agreeing >= 0.3 * candidates > 0


def test_photometric_effects_change_pixels_never_geometry(fake_root):
    plain = generate_scene(4, 0, "object", views=3, size=48, textures="photo", texture_root=fake_root)
    real = generate_scene(4, 0, "object", views=3, size=48, textures="photo", photometric=True, texture_root=fake_root)
    for v in range(3):
        a, b = plain.render(v), real.render(v)
        assert np.array_equal(a.depth, b.depth) and np.array_equal(a.foreground, b.foreground)
        assert np.array_equal(plain.cameras[v].world_from_cam, real.cameras[v].world_from_cam)
        assert np.array_equal(plain.cameras[v].intrinsics, real.cameras[v].intrinsics)
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).mean() > 1.0


def test_photo_textures_reach_the_images(fake_root):
    procedural = generate_scene(2, 1, "indoor", views=1, size=48)
    photo = generate_scene(2, 1, "indoor", views=1, size=48, textures="photo", texture_root=fake_root)
    assert photo.texture_files and set(photo.texture_files) <= {t.id for t in find_photo_textures(fake_root)}
    assert not procedural.texture_files
    assert not np.array_equal(procedural.render(0).rgb, photo.render(0).rgb)


def test_provenance_of_every_photo_used_is_in_dataset_json(tmp_path, fake_root):
    write_procedural(tmp_path, scenes=3, views=2, size=32, seed=0, kind="object", textures="photo",
                     texture_root=fake_root)
    meta = read_dataset(tmp_path).meta
    assert meta["textures"] == "photo" and meta["textures_used"] == "photo"
    recorded = {r["id"]: r for r in meta["texture_files"]}
    used = set()
    for name in read_dataset(tmp_path).scenes:
        used.update(read_scene(tmp_path / name).meta["texture_files"])
    assert used and used == set(recorded)
    library = {t.id: t for t in find_photo_textures(fake_root)}
    for texture_id, record in recorded.items():
        assert record["license"] == library[texture_id].license and record["copyright"]
        assert record["package"] in ("mate-backgrounds", "plasma-workspace-wallpapers")
        assert record["sha256"] == hashlib.sha256(Path(library[texture_id].path).read_bytes()).hexdigest()


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def test_sim_to_real_datasets_are_byte_identical_for_a_seed(tmp_path, fake_root):
    options = dict(scenes=2, views=2, size=32, kind="object", textures="photo", photometric=True, texture_root=fake_root)
    write_procedural(tmp_path / "a", seed=3, **options)
    write_procedural(tmp_path / "b", seed=3, **options)
    write_procedural(tmp_path / "c", seed=4, **options)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_without_photo_packages_the_generator_warns_and_uses_procedural_textures(tmp_path):
    empty = tmp_path / "empty_root"
    empty.mkdir()
    generate_module._WARNED.discard(str(empty))
    with pytest.warns(RuntimeWarning, match="no photo textures found.*make textures"):
        write_procedural(tmp_path / "fallback", scenes=1, views=2, size=32, seed=5, kind="forward",
                         textures="photo", texture_root=empty)
    write_procedural(tmp_path / "plain", scenes=1, views=2, size=32, seed=5, kind="forward")
    meta = read_dataset(tmp_path / "fallback").meta
    assert meta["textures_used"] == "procedural" and "apt-get install" in meta["texture_fallback"]
    assert meta["texture_files"] == []
    fallback, plain = read_scene(tmp_path / "fallback/scene_00000"), read_scene(tmp_path / "plain/scene_00000")
    assert np.array_equal(fallback.image(1), plain.image(1))


def test_cli_prints_one_clear_line_without_the_packages(tmp_path, capsys):
    empty = tmp_path / "no_packages"
    empty.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI says it once on stderr, not as a Python warning
        code = main(["data", "make-procedural", "--out", str(tmp_path / "d"), "--scenes", "1", "--views", "2",
                     "--size", "32", "--kind", "object", "--textures", "photo", "--texture-root", str(empty),
                     "--photometric"])
    captured = capsys.readouterr()
    assert code == 0 and "procedural textures (no photo package installed)" in captured.out
    assert captured.err.count("warning: no photo textures found") == 1 and "Traceback" not in captured.err


def test_cli_records_the_photos_it_used(tmp_path, fake_root, capsys):
    code = main(["data", "make-procedural", "--out", str(tmp_path / "d"), "--scenes", "2", "--views", "2",
                 "--size", "32", "--kind", "indoor", "--textures", "photo", "--texture-root", str(fake_root)])
    assert code == 0 and "3 photos from mate-backgrounds, plasma-workspace-wallpapers" in capsys.readouterr().out
    meta = read_dataset(tmp_path / "d").meta
    assert meta["split"] == "train" and meta["texture_files"]
    assert all({"license", "copyright", "source", "sha256", "package"} <= set(r) for r in meta["texture_files"])


def test_a_packed_texture_root_lists_the_same_photos_and_licences(tmp_path, fake_root):
    from recon3r.data.procedural.texture_library import pack_photo_textures

    packed = pack_photo_textures(tmp_path / "pack", fake_root, max_side=64)
    original = find_photo_textures(fake_root)
    assert [(t.id, t.license, t.copyright, t.version) for t in packed] == \
        [(t.id, t.license, t.copyright, t.version) for t in original]
    assert all(max(Image.open(t.path).size) <= 64 for t in packed)


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))


def test_object_captures_go_around_the_hero_with_wide_baselines_and_some_rolled_views():
    widest, rolled = 0.0, 0
    for index in range(12):
        scene = generate_scene(0, index, "object", views=12, size=32)
        center = scene.spec.hero[0]
        directions = [c.world_from_cam[:3, 3] - center for c in scene.cameras]
        widest = max(widest, max(_angle(a, b) for a in directions for b in directions))
        for camera in scene.cameras:
            to_hero = center - camera.world_from_cam[:3, 3]
            assert _angle(camera.world_from_cam[:3, 2], to_hero) < 20  # every view looks at the hero
            # Rolled: the image's down axis points up in the world.
            rolled += int(camera.world_from_cam[2, 1] > 0.3)
    assert widest > 150 and rolled > 0


def test_forward_facing_cameras_share_one_viewing_direction():
    for index in range(4):
        scene = generate_scene(0, index, "forward", views=6, size=32)
        axes = [c.world_from_cam[:3, 2] for c in scene.cameras]
        assert max(_angle(a, b) for a in axes for b in axes) < 15
        centres = np.array([c.world_from_cam[:3, 3] for c in scene.cameras])
        assert np.ptp(centres, axis=0).max() > 0.01  # they do move


def test_procedural_dataset_renders_sim_to_real_scenes_on_the_fly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no photo packages: procedural textures
        dataset = Procedural(scenes=1, views=3, size=32, kind="object", textures="photo", photometric=True,
                             resolution=32, num_views=2, min_overlap=0.0)
    views = dataset[0]
    assert len(views) == 2 and views[0]["img"].shape[-2:] == (32, 32)
    assert np.isfinite(views[0]["pts3d"]).all()
