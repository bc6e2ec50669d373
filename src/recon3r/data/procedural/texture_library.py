"""Real photographs from Debian packages, with the licence and source of every file.

The sim-to-real generator textures surfaces and far backgrounds with crops of real photos. They
come from desktop-background packages that the project's set-up installs (`make textures`); each
file's licence and copyright holder are read from the package itself: the wallpaper's own
`metadata.json` (Plasma) or the package's machine-readable `/usr/share/doc/PKG/copyright`
(DEP-5: the last `Files:` paragraph that matches a file wins). Only photographs are listed (the
packages' illustrations and logos are left out), and only files under a free licence are used.

`find_photo_textures(root)` lists what is installed under `root` ("/" normally; tests build a
small fake tree); `load_photo(path)` decodes one file into a mip pyramid, cached per process;
`pack_photo_textures(out)` copies the photos, shrunk, with their licence records into a portable root.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# Plasma wallpapers that are photographs (the others are vector art).
_PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
                  "Kite", "OneStandsOut", "Path", "Volna", "summer_1am")
# Lomiri (Ubuntu Touch) wallpapers that are photographs.
_LOMIRI_PHOTOS = ("Bridge", "Dragonfly", "Picture_0B", "Picture_1A", "Wine", "aitzgorri", "free", "friends",
                  "greentock", "life", "picosdeeuropa", "seeding", "sunset", "Kleiber")


@dataclass(frozen=True)
class PhotoSource:
    """A Debian package and the installed files of it that are photographs (absolute-path globs)."""

    package: str
    patterns: tuple[str, ...]
    homepage: str


PHOTO_SOURCES = (
    PhotoSource("mate-backgrounds", ("/usr/share/backgrounds/mate/nature/*.jpg",),
                "https://git.mate-desktop.org/mate-backgrounds/"),
    PhotoSource("plasma-workspace-wallpapers",
                tuple(f"/usr/share/wallpapers/{name}/contents/images/*.jpg" for name in _PLASMA_PHOTOS),
                "https://invent.kde.org/plasma/plasma-workspace-wallpapers"),
    PhotoSource("lomiri-wallpapers-16.04", tuple(f"/usr/share/backgrounds/{name}_by_*.jpg" for name in _LOMIRI_PHOTOS),
                "https://gitlab.com/ubports/development/core/lomiri-wallpapers"),
    PhotoSource("lomiri-wallpapers-20.04", tuple(f"/usr/share/backgrounds/{name}_by_*.jpg" for name in _LOMIRI_PHOTOS),
                "https://gitlab.com/ubports/development/core/lomiri-wallpapers"),
)
PACKAGES = tuple(source.package for source in PHOTO_SOURCES)
INSTALL_HINT = f"make textures (or: apt-get install {' '.join(PACKAGES)})"
# Licences accepted as free for training data (SPDX-style short names as the packages write them).
FREE_LICENSES = ("GPL-2", "GPL-3", "LGPL", "CC-BY-4.0", "CC-BY-SA", "CC-BY-3.0", "CC-BY-2.0", "CC0", "Expat", "MIT")
MAX_SIDE = 768  # photos are decoded at most this large (long side), then mip-mapped


@dataclass(frozen=True)
class TextureFile:
    """One photo and where it comes from: `id` is 'package:installed/path' (stable across roots)."""

    id: str
    path: str
    package: str
    version: str | None
    license: str
    copyright: str
    source: str

    def provenance(self) -> dict:
        """What dataset.json records for this file, with the sha256 of its bytes."""
        record = asdict(self)
        record.pop("path")
        record["sha256"] = hashlib.sha256(Path(self.path).read_bytes()).hexdigest()
        return record


def find_photo_textures(root: str | Path = "/") -> tuple[TextureFile, ...]:
    """Every installed, freely licensed photo of `PHOTO_SOURCES` under `root`, sorted by id.

    A package counts as installed when dpkg lists its files (`var/lib/dpkg/info/PKG.list`). Several
    resolutions of one wallpaper (Plasma ships up to twelve) count once: the largest.
    """
    return _find(str(Path(root)))


@functools.lru_cache(maxsize=8)
def _find(root: str) -> tuple[TextureFile, ...]:
    base = Path(root)
    versions = _dpkg_versions(base / "var/lib/dpkg/status")
    found: list[TextureFile] = []
    for source in PHOTO_SOURCES:
        listing = base / "var/lib/dpkg/info" / f"{source.package}.list"
        if not listing.is_file():
            continue
        installed = [line.strip() for line in listing.read_text(encoding="utf-8", errors="replace").splitlines()]
        chosen: dict[str, str] = {}  # one file per folder (a wallpaper's resolutions): the largest
        for name in installed:
            if any(fnmatch.fnmatchcase(name, p) for p in source.patterns) and (base / name.lstrip("/")).is_file():
                key = str(Path(name).parent) if source.package == "plasma-workspace-wallpapers" else name
                if key not in chosen or _pixels_in_name(name) > _pixels_in_name(chosen[key]):
                    chosen[key] = name
        copyright_file = _read_dep5(base / "usr/share/doc" / source.package / "copyright")
        for name in sorted(chosen.values()):
            license_name, holder = _plasma_metadata(base, name) or _dep5_lookup(copyright_file, name)
            if not license_name.startswith(FREE_LICENSES):
                continue
            found.append(TextureFile(id=f"{source.package}:{name}", path=str(base / name.lstrip("/")),
                                     package=source.package, version=versions.get(source.package),
                                     license=license_name, copyright=holder, source=source.homepage))
    return tuple(sorted(found, key=lambda t: t.id))


def missing_textures_message(root: str | Path = "/") -> str:
    """One line for users without the packages: what is missing and how to install it."""
    return (f"no photo textures found under {root} (none of {', '.join(PACKAGES)} is installed); rendering "
            f"procedural textures instead. Install them with: {INSTALL_HINT}")


def _pixels_in_name(path: str) -> int:
    match = re.search(r"(\d+)x(\d+)", Path(path).name)
    return int(match.group(1)) * int(match.group(2)) if match else 0


def _dpkg_versions(status: Path) -> dict[str, str]:
    """{package: version} for the photo packages, from dpkg's status database (if there is one)."""
    if not status.is_file():
        return {}
    versions: dict[str, str] = {}
    for stanza in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version): (.+)$", stanza, flags=re.MULTILINE))
        if fields.get("Package") in PACKAGES and "Version" in fields:
            versions[fields["Package"]] = fields["Version"].strip()
    return versions


def _plasma_metadata(base: Path, name: str) -> tuple[str, str] | None:
    """(licence, authors) from a Plasma wallpaper's metadata.json (WALLPAPER/contents/images/FILE)."""
    parts = Path(name).parts
    if "wallpapers" not in parts or len(parts) < 4 or parts[-3] != "contents":
        return None
    meta_file = base / Path(*parts[1:-3]) / "metadata.json"
    try:
        plugin = json.loads(meta_file.read_text(encoding="utf-8")).get("KPlugin", {})
    except (OSError, ValueError):
        return None
    license_name = str(plugin.get("License", "")).strip()
    authors = [a.get("Name", "") + (f" <{a['Email']}>" if a.get("Email") else "")
               for a in plugin.get("Authors", []) if isinstance(a, dict)]
    if not license_name:
        return None
    return license_name, "; ".join(a for a in authors if a) or "unknown"


def _read_dep5(path: Path) -> list[dict[str, str]]:
    """The paragraphs of a DEP-5 copyright file as {field: value} (continuation lines joined), or []."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and current:
                fields[current] += "\n" + line.strip()
            elif ":" in line:
                current, value = line.split(":", 1)
                fields[current] = value.strip()
        if fields:
            paragraphs.append(fields)
    return paragraphs


def _dep5_lookup(paragraphs: list[dict[str, str]], name: str) -> tuple[str, str]:
    """(licence, copyright) of installed file `name`: the last `Files:` paragraph that matches it.

    Patterns are paths in the source tree, not the installed one: a pattern matches when it matches
    the installed path's last components, or, if its file name has no wildcard, the same file name.
    """
    license_name, holder = "unknown", "unknown"
    parts = Path(name).parts
    for fields in paragraphs:
        if "Files" not in fields:
            continue
        for pattern in fields["Files"].split():
            pattern_parts = Path(pattern).parts
            tail = "/".join(parts[-len(pattern_parts):])
            plain_name = not any(c in pattern_parts[-1] for c in "*?[")
            if pattern == "*" or fnmatch.fnmatchcase(tail, pattern) or (plain_name and pattern_parts[-1] == parts[-1]):
                license_name = fields.get("License", "unknown").splitlines()[0].strip() or "unknown"
                holder = " ".join(fields.get("Copyright", "unknown").split())
                break
    return license_name, holder


_SRGB_TO_LINEAR = ((np.arange(256, dtype=np.float64) / 255.0) ** 2.2).astype(np.float32)


@functools.lru_cache(maxsize=64)
def load_photo(path: str, max_side: int = MAX_SIDE) -> tuple[np.ndarray, ...]:
    """Mip pyramid of a photo: uint8 sRGB (H, W, 3) arrays, level 0 at most `max_side` long, each next half."""
    from PIL import Image

    from recon3r.errors import ImageLoadError

    try:
        with Image.open(path) as image:
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster
            image = image.convert("RGB")
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            level = np.asarray(image, dtype=np.uint8)
    except OSError as err:
        raise ImageLoadError(f"cannot read texture photo {path}: {err}") from None
    levels = [level]
    while min(level.shape[:2]) >= 8:
        h, w = (level.shape[0] // 2) * 2, (level.shape[1] // 2) * 2
        level = level[:h, :w].astype(np.uint16)
        level = ((level[0::2, 0::2] + level[1::2, 0::2] + level[0::2, 1::2] + level[1::2, 1::2] + 2) // 4).astype(np.uint8)
        levels.append(level)
    return tuple(levels)


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """uint8 sRGB → float32 linear RGB (gamma 2.2, as the renderer's tone mapping inverts)."""
    return _SRGB_TO_LINEAR[values]


def pack_photo_textures(out: str | Path, root: str | Path = "/", max_side: int = MAX_SIDE) -> tuple[TextureFile, ...]:
    """Copy the installed photos, shrunk to `max_side` (what rendering uses), into a small self-contained root.

    `out` then holds the same layout `find_photo_textures` reads (dpkg file lists and versions, the
    packages' copyright files, Plasma metadata), so `find_photo_textures(out)` lists the same ids
    with the same licences. For machines that cannot install the packages (an offline accelerator):
    carry the folder there and pass it as the texture root. Returns the packed files.
    """
    import shutil

    from PIL import Image

    base, out = Path(root), Path(out)
    library = find_photo_textures(base)
    status = []
    for package in sorted({t.package for t in library}):
        files = [t for t in library if t.package == package]
        names = [t.id.split(":", 1)[1] for t in files]
        info = out / "var/lib/dpkg/info"
        info.mkdir(parents=True, exist_ok=True)
        (info / f"{package}.list").write_text("\n".join(names) + "\n", encoding="utf-8")
        doc = base / "usr/share/doc" / package / "copyright"
        if doc.is_file():
            (out / "usr/share/doc" / package).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(doc, out / "usr/share/doc" / package / "copyright")
        if files[0].version:
            status.append(f"Package: {package}\nStatus: install ok installed\nVersion: {files[0].version}\n")
        for texture, name in zip(files, names):
            target = out / name.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(texture.path) as image:
                image.draft("RGB", (max_side, max_side))
                image = image.convert("RGB")
                image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                image.save(target, quality=92)
            parts = Path(name).parts
            if "wallpapers" in parts and len(parts) >= 4 and parts[-3] == "contents":
                meta = Path(*parts[1:-3]) / "metadata.json"
                if (base / meta).is_file():
                    shutil.copyfile(base / meta, out / meta)
    (out / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    (out / "var/lib/dpkg/status").write_text("\n".join(status), encoding="utf-8")
    _find.cache_clear()
    return find_photo_textures(out)
