"""Hostile but fair inputs to every command: each ends in one clear error line (exit 2) or a correct result.

One row per case in `CASES`: the argv (with {placeholders}), an optional setup that writes files into the
case's folder, and either the regex the `error:` line must match or a check of a successful run. Any
traceback, or the CLI's "this is a bug" line, fails the case. Adding a case is adding a row.

Placeholders: {tmp} the case's own folder; {photos} a folder of three photos; {weights} a tiny pair model;
{missing} a path that does not exist (given as --weights where the output must be refused before any model
is loaded); {file} an existing file; {zero} {huge} {tiny30} {nan} {const} tiny pair models whose heads
predict all-zero points, points 1e30 away, points 1e-30 from the origin, NaN, and one constant point;
{depth_model} a depth-to-3D model; {depth} a depth map; {pth} an official-style .pth checkpoint.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recon3r.cli import main

Setup = Callable[[Path], None]
Check = Callable[[Path, str, str], None]


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    error: str | None = None  # regex the one `error:` line must match (exit 2); None: must succeed
    setup: Setup | None = None
    check: Check | None = None
    usage: bool = False  # an argparse usage error (usage lines, then `prog: error: ...`)


# ---------------------------------------------------------------- setups and checks
def write(name: str, content) -> Setup:
    """A setup writing `content` (JSON-encoded unless bytes or str) to {tmp}/name."""
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
    return setup


def both(*setups: Setup) -> Setup:
    def setup(tmp: Path) -> None:
        for step in setups:
            step(tmp)
    return setup


def image(name: str, width: int, height: int) -> Setup:
    def setup(tmp: Path) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(tmp / name)
    return setup


def earlier(command: tuple[str, ...]) -> Setup:
    """A setup running `command` successfully first (an earlier result in the same place)."""
    def setup(tmp: Path) -> None:
        assert main([a.format(**_ENV, tmp=tmp) for a in command]) == 0
    return setup


def copy_photos(*targets: str) -> Setup:
    """Copy photo k to {tmp}/targets[k]."""
    def setup(tmp: Path) -> None:
        for source, target in zip(sorted(Path(_ENV["photos"]).iterdir()), targets):
            (tmp / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp / target)
    return setup


def has(*names: str) -> Check:
    def check(tmp: Path, out: str, err: str) -> None:
        for name in names:
            assert (tmp / name).exists(), name
    return check


def only(folder: str, *names: str) -> Check:
    def check(tmp: Path, out: str, err: str) -> None:
        assert sorted(p.name for p in (tmp / folder).iterdir()) == sorted([".recon3r-output.json", *names])
    return check


def says(pattern: str) -> Check:
    def check(tmp: Path, out: str, err: str) -> None:
        assert re.search(pattern, out + err), out + err
    return check


K_OK = {"*": {"K": [[350.0, 0, 199.5], [0, 350.0, 149.5], [0, 0, 1]]}}
EYE = np.eye(4).tolist()
FAST = ("--niter", "3", "--size", "224", "--quiet")
REC = ("reconstruct", "{photos}", "--weights", "{weights}", *FAST)
EARLY = ("reconstruct", "{photos}", "--weights", "{missing}", *FAST)  # refused before the missing model loads
DEPTH_CMD = ("depth-to-3d", "{depth}")
EVAL = ("eval", "--task", "depth", "--benchmark", "procedural:1:views=2,size=32", "--quiet")
DATA = ("data", "make-procedural", "--scenes", "1", "--views", "2", "--size", "24")
TRAIN = ("train", "--model", "AsymmetricCroCo3DStereo(enc_embed_dim=16)", "--train_dataset", "4 @ Procedural()")
SINGLE = ("single-image", "{tmp}/object.png", "--weights", "{weights}", "--out", "{tmp}/o")
STREAM = ("stream", "{photos}", "--weights", "{weights}", "--out", "{tmp}/o")
OBJECT = image("object.png", 64, 64)
BAD_PTH = r"(not a readable PyTorch checkpoint|refused to load)"  # garbage bytes or a non-tensor pickle

CASES: list[Case] = [
    # ---- reconstruct: the output folder, checked before any model is loaded
    Case("rec out is a file", (*EARLY, "--out", "{file}"), r"is a file, not a folder"),
    Case("rec out below a file", (*EARLY, "--out", "{file}/sub"), r"is a file, so no folder can be made"),
    Case("rec out empty string", (*EARLY, "--out", ""), r"--out is empty"),
    Case("rec out blank", (*EARLY, "--out", "  "), r"--out is empty"),
    Case("rec out is the input folder", (*EARLY, "--out", "{photos}"), r"is also an input"),
    Case("rec out holds the inputs", ("reconstruct", "{tmp}/scene/images", "--weights", "{missing}", "--out",
                                      "{tmp}/scene"), r"holds an input", copy_photos("scene/images/a.png",
                                                                                     "scene/images/b.png")),
    Case("rec out is an input file", ("reconstruct", "{tmp}/a.png", "{tmp}/b.png", "--weights", "{missing}",
                                      "--out", "{tmp}/a.png"), r"is a file, not a folder", copy_photos("a.png", "b.png")),
    Case("rec out holds the weights", (*REC, "--out", "{tmp}", "--weights", "{tmp}/w"), r"holds an input",
         write("w/config.json", "{}")),
    Case("rec out foreign", (*EARLY, "--out", "{tmp}/mine"), r"not empty and was not written by recon3r.*thesis",
         write("mine/thesis.tex", "x")),
    Case("rec out earlier result", (*REC, "--out", "{tmp}/o"), r"already holds a `recon3r reconstruct` result.*"
         r"--overwrite", earlier((*REC, "--out", "{tmp}/o", "--formats", "ply"))),
    Case("rec out earlier result + overwrite", (*REC, "--out", "{tmp}/o", "--formats", "npz", "--overwrite"),
         None, earlier((*REC, "--out", "{tmp}/o", "--formats", "ply")), only("o", "scene.npz")),
    Case("rec out hand-added file", (*REC, "--out", "{tmp}/o", "--overwrite"), r"did not write.*notes.txt",
         both(earlier((*REC, "--out", "{tmp}/o", "--formats", "ply")), write("o/notes.txt", "x"))),
    Case("rec out another command's", (*EARLY, "--out", "{tmp}/o", "--overwrite"), r"output of `recon3r convert`",
         earlier(("convert", "{pth}", "{tmp}/o"))),
    Case("rec unwritable out", (*EARLY, "--out", "/sys/recon3r-out"), r"cannot write in|is a file"),
    # ---- reconstruct: every option, before compute
    Case("rec formats obj", (*EARLY, "--out", "{tmp}/o", "--formats", "ply,obj"), r"unknown export format.*'obj'"),
    Case("rec formats empty", (*EARLY, "--out", "{tmp}/o", "--formats", ""), r"no export format given"),
    Case("rec formats commas", (*EARLY, "--out", "{tmp}/o", "--formats", ",,"), r"no export format given"),
    Case("rec batch size 0", (*EARLY, "--out", "{tmp}/o", "--batch-size", "0"), r"--batch-size must be >= 1, got 0"),
    Case("rec batch size negative", (*EARLY, "--out", "{tmp}/o", "--batch-size", "-4"), r"--batch-size must be"),
    Case("rec niter negative", (*EARLY, "--out", "{tmp}/o", "--niter", "-1"), r"--niter must be >= 0"),
    Case("rec lr zero", (*EARLY, "--out", "{tmp}/o", "--lr", "0"), r"--lr must be > 0"),
    Case("rec lr nan", (*EARLY, "--out", "{tmp}/o", "--lr", "nan"), r"--lr must be a finite number"),
    Case("rec min-conf text", (*EARLY, "--out", "{tmp}/o", "--min-conf", "high"), r"--min-conf must be a number"),
    Case("rec min-conf nan", (*EARLY, "--out", "{tmp}/o", "--min-conf", "nan"), r"--min-conf must be a finite"),
    Case("rec graph unknown", (*EARLY, "--out", "{tmp}/o", "--graph", "star"), r"unknown pair graph 'star'"),
    Case("rec graph window 0", (*EARLY, "--out", "{tmp}/o", "--graph", "swin-0"), r"window size must be at least 1"),
    Case("rec size 300", (*REC, "--out", "{tmp}/o", "--size", "300"), r"invalid choice", usage=True),
    Case("rec glb cube", (*REC, "--out", "{tmp}/o", "--glb", "cube"), r"invalid choice", usage=True),
    Case("rec no out", REC, r"required: --out", usage=True),
    Case("rec intrinsics folder", (*EARLY, "--out", "{tmp}/o", "--intrinsics", "{tmp}"), r"is a folder, not a JSON"),
    Case("rec intrinsics missing", (*EARLY, "--out", "{tmp}/o", "--intrinsics", "{tmp}/no.json"), r"file not found"),
    Case("rec poses folder", (*EARLY, "--out", "{tmp}/o", "--poses", "{tmp}"), r"--poses .* is a folder"),
    Case("rec captions folder", (*EARLY, "--out", "{tmp}/o", "--captions", "{tmp}"), r"--captions .* is a folder"),
    # ---- reconstruct: camera files, read once the images are known
    Case("rec K text", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"), r"\*\.K must be a 3x3 matrix",
         write("k.json", {"*": {"K": "abc"}})),
    Case("rec K ragged", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"), r"\*\.K must be a 3x3 matrix",
         write("k.json", {"*": {"K": [[1, 0, 0], [0, 1]]}})),
    Case("rec K strings", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"), r"K\[0\]\[0\] must be a number",
         write("k.json", {"*": {"K": [["350", 0, 200], [0, 350, 150], [0, 0, 1]]}})),
    Case("rec focal 1e30", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"),
         r"view_0.png.focal = 1e\+30 px is not below 100×", write("k.json", {"view_0.png": {"focal": 1e30}})),
    Case("rec focal true", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"),
         r"focal must be a number, got true", write("k.json", {"view_0.png": {"focal": True}})),
    Case("rec focal negative", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"), r"must be positive",
         write("k.json", {"view_1": {"focal": -10}})),
    Case("rec focal NaN literal", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"),
         r"NaN is not a number JSON allows", write("k.json", '{"view_0.png": {"focal": NaN}}')),
    Case("rec intrinsics unknown image", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"),
         r"no image named 'other.png'", write("k.json", {"other.png": {"focal": 300}})),
    Case("rec intrinsics distortion", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"),
         r"unknown field\(s\) k1", write("k.json", {"view_0.png": {"focal": 300, "k1": 0.1}})),
    Case("rec intrinsics ambiguous", ("reconstruct", "{tmp}/day/img.png", "{tmp}/night/img.png", "--weights",
                                      "{weights}", *FAST, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json"),
         r"key 'img.png' is ambiguous", both(copy_photos("day/img.png", "night/img.png"),
                                            write("k.json", {"img.png": {"focal": 300}}))),
    Case("rec intrinsics ok", (*REC, "--out", "{tmp}/o", "--intrinsics", "{tmp}/k.json", "--formats", "npz"), None,
         write("k.json", K_OK), has("o/scene.npz")),
    Case("rec poses 1e30", (*REC, "--out", "{tmp}/o", "--poses", "{tmp}/p.json"), r"translation .* is beyond",
         write("p.json", {"view_0.png": EYE, "view_1.png": [[1, 0, 0, 1e30], [0, 1, 0, 0], [0, 0, 1, 0],
                                                            [0, 0, 0, 1]]})),
    Case("rec poses not rigid", (*REC, "--out", "{tmp}/o", "--poses", "{tmp}/p.json"), r"does not hold a rotation",
         write("p.json", {"view_0.png": (2 * np.eye(4)).tolist()})),
    Case("rec poses 3x4", (*REC, "--out", "{tmp}/o", "--poses", "{tmp}/p.json"), r"4x4 cam-to-world matrix",
         write("p.json", {"view_0.png": EYE[:3]})),
    Case("rec captions not text", (*REC, "--out", "{tmp}/o", "--captions", "{tmp}/c.json"), r"must be a string or null",
         write("c.json", {"view_0.png": 3})),
    # ---- reconstruct: images and checkpoints
    Case("rec one image", ("reconstruct", "{tmp}/a.png", "--weights", "{weights}", "--out", "{tmp}/o"),
         r"needs 2 or more images", copy_photos("a.png")),
    Case("rec 1x1 image", ("reconstruct", "{tmp}/a.png", "{tmp}/dot.png", "--weights", "{weights}", *FAST, "--out",
                           "{tmp}/o"), r"dot.png: image of size 1x1 is too small: each side must be at least 16 px",
         both(copy_photos("a.png"), image("dot.png", 1, 1))),
    Case("rec text as png", ("reconstruct", "{tmp}/a.png", "{tmp}/fake.png", "--weights", "{weights}", *FAST,
                             "--out", "{tmp}/o"), r"fake.png is not a readable image",
         both(copy_photos("a.png"), write("fake.png", "hello"))),
    Case("rec missing image", ("reconstruct", "{tmp}/nope.png", "{photos}", "--weights", "{weights}", "--out",
                               "{tmp}/o"), r"nope.png does not exist"),
    Case("rec depth model as weights", (*REC, "--out", "{tmp}/o", "--weights", "{depth_model}"),
         r"this is a depth-to-3D model; use `recon3r depth-to-3d`"),
    Case("rec garbage pth", (*REC, "--out", "{tmp}/o", "--weights", "{tmp}/broken.pth"),
         r"broken.pth: " + BAD_PTH, write("broken.pth", b"\x00not a checkpoint")),
    Case("rec kwargs img_size text", (*REC, "--out", "{tmp}/o", "--weights", "{tmp}/w"),
         r"img_size must be a number, got 'x'", lambda tmp: _kwargs_model(tmp / "w", img_size="x")),
    Case("rec kwargs mlp_ratio inf", (*REC, "--out", "{tmp}/o", "--weights", "{tmp}/w"),
         r"mlp_ratio must be a finite number", lambda tmp: _kwargs_model(tmp / "w", mlp_ratio="inf")),
    Case("rec kwargs depth true", (*REC, "--out", "{tmp}/o", "--weights", "{tmp}/w"),
         r"enc_depth must be a number, got True", lambda tmp: _kwargs_model(tmp / "w", enc_depth=True)),
    # ---- reconstruct: degenerate predictions end in one line, on the two-view and the optimiser path
    *[Case(f"rec degenerate {model} x{count}", ("reconstruct", *[f"{{photos}}/view_{k}.png" for k in range(count)],
                                                "--weights", f"{{{model}}}", *FAST, "--out", "{tmp}/o"), message)
      for model, message in (("zero", "every point in one place"), ("huge", r"points 7.08e\+29 from the camera"),
                             ("tiny30", "every point in one place"), ("nan", "NaN or infinite"),
                             ("const", "every point in one place"))
      for count in (2, 3)],
    # ---- reconstruct: what must work
    Case("rec default", (*REC, "--out", "{tmp}/o"), None, None,
         has("o/points.ply", "o/scene.glb", "o/sparse/0/images.txt", "o/transforms.json", "o/scene.npz")),
    Case("rec into an empty folder", (*REC, "--out", "{tmp}/empty", "--formats", "ply"), None,
         lambda tmp: (tmp / "empty").mkdir(), only("empty", "points.ply")),
    Case("rec same name two folders", ("reconstruct", "{tmp}/day/img.png", "{tmp}/night/img.png", "--weights",
                                       "{weights}", *FAST, "--out", "{tmp}/o"), None,
         copy_photos("day/img.png", "night/img.png"), has("o/images/img.png", "o/images/img_0001.png")),
    Case("rec names with spaces", ("reconstruct", "{tmp}/in", "--weights", "{weights}", *FAST, "--out", "{tmp}/o",
                                   "--formats", "colmap"), None, copy_photos("in/photo one é.png", "in/b c.png"),
         has("o/images/photo_one_e.png", "o/images/b_c.png")),
    Case("rec min-conf keeps nothing", (*REC, "--out", "{tmp}/o", "--formats", "ply", "--min-conf", "1e9"), None,
         None, says(r"warning: --min-conf 1e\+09 keeps 0 of .* try --min-conf")),
    # ---- convert
    Case("convert into the checkpoint's folder", ("convert", "{tmp}/ck/model.pth", "{tmp}/ck"), r"holds an input",
         lambda tmp: _pth(tmp / "ck" / "model.pth")),
    Case("convert out is a file", ("convert", "{pth}", "{file}"), r"is a file, not a folder"),
    Case("convert out empty", ("convert", "{pth}", ""), r"OUT_DIR is empty"),
    Case("convert garbage", ("convert", "{tmp}/x.pth", "{tmp}/o"), r"x.pth: " + BAD_PTH,
         write("x.pth", b"garbage")),
    Case("convert twice", ("convert", "{pth}", "{tmp}/o"), r"pass --overwrite", earlier(("convert", "{pth}", "{tmp}/o"))),
    Case("convert twice + overwrite", ("convert", "{pth}", "{tmp}/o", "--overwrite"), None,
         earlier(("convert", "{pth}", "{tmp}/o")), only("o", "model.safetensors", "config.json")),
    Case("convert into a foreign folder", ("convert", "{pth}", "{tmp}/o"), r"not written by recon3r",
         write("o/readme.md", "x")),
    # ---- eval
    Case("eval out is a folder", (*EVAL, "--method", "constant-plane", "--out", "{tmp}"), r"is a folder; give a file"),
    Case("eval out txt", (*EVAL, "--method", "constant-plane", "--out", "{tmp}/r.txt"), r"must end in .json"),
    Case("eval out empty", (*EVAL, "--method", "constant-plane", "--out", ""), r"--out is empty"),
    Case("eval out below a file", (*EVAL, "--method", "constant-plane", "--out", "{file}/r.json"),
         r"is a file, so no folder"),
    Case("eval out exists", (*EVAL, "--method", "constant-plane", "--out", "{tmp}/r.json"), r"already exists",
         write("r.json", "{}")),
    Case("eval out ok", (*EVAL, "--method", "constant-plane", "--out", "{tmp}/r.json"), None, None, has("r.json")),
    Case("eval broken pth", (*EVAL, "--method", "{tmp}/broken.pth"), r"broken.pth: " + BAD_PTH,
         write("broken.pth", b"\x00\x01")),
    Case("eval depth model as method", (*EVAL, "--method", "{depth_model}"),
         r"\(Depth3DModel, a depth-to-3D model\) cannot be evaluated on task 'depth'; depth-to-3D models do: depth_to_3d"),
    Case("eval degenerate model", (*EVAL, "--method", "{zero}", "--niter", "2", "--size", "224"),
         r"method 'zero' failed on every scene"),
    Case("eval save predictions into a file", (*EVAL, "--method", "constant-plane", "--save-predictions", "{file}"),
         r"--save-predictions .* is a file"),
    Case("eval niter negative", (*EVAL, "--method", "constant-plane", "--niter", "-2"), r"--niter must be >= 0"),
    # ---- data
    Case("data out is a file", (*DATA, "--out", "{file}"), r"is a file, not a folder"),
    Case("data out empty", (*DATA, "--out", ""), r"--out is empty"),
    Case("data size huge", (*DATA, "--out", "{tmp}/d", "--size", "100000"), r"--size must be at most 4096"),
    Case("data views zero", (*DATA, "--out", "{tmp}/d", "--views", "0"), r"--views must be at least 1"),
    Case("data foreign folder", (*DATA, "--out", "{tmp}/d"), r"not written by recon3r", write("d/x.txt", "x")),
    Case("data again", (*DATA, "--out", "{tmp}/d"), r"--overwrite", earlier((*DATA, "--out", "{tmp}/d"))),
    Case("data again + overwrite", (*DATA, "--out", "{tmp}/d", "--overwrite", "--scenes", "2"), None,
         earlier((*DATA, "--out", "{tmp}/d")), has("d/dataset.json", "d/scene_00001/scene.json")),
    # ---- train
    Case("train output is a file", (*TRAIN, "--output_dir", "{file}"), r"is a file, not a folder"),
    Case("train output empty", (*TRAIN, "--output_dir", ""), r"--output_dir is empty"),
    Case("train output foreign", (*TRAIN, "--output_dir", "{tmp}/r"), r"not a recon3r training folder",
         write("r/data.csv", "1")),
    Case("train output of reconstruct", (*TRAIN, "--output_dir", "{tmp}/o"), r"output of `recon3r reconstruct`",
         earlier((*REC, "--out", "{tmp}/o", "--formats", "ply"))),
    Case("train batch size 0", (*TRAIN, "--output_dir", "{tmp}/r", "--batch_size", "0"), r"--batch_size must be >= 1"),
    Case("train batch size text", (*TRAIN, "--output_dir", "{tmp}/r", "--batch_size", "x"), r"invalid int value",
         usage=True),
    # ---- depth-to-3d
    Case("depth out folder", (*DEPTH_CMD, "--out", "{tmp}"), r"is a folder; give a file path"),
    Case("depth out txt", (*DEPTH_CMD, "--out", "{tmp}/x.txt"), r"must end in .ply"),
    Case("depth out exists", (*DEPTH_CMD, "--out", "{tmp}/x.ply"), r"already exists; pass --overwrite",
         write("x.ply", "old")),
    Case("depth pair model", (*DEPTH_CMD, "--out", "{tmp}/x.ply", "--weights", "{weights}"),
         r"this is a pair \(DUSt3R-style\) model; use `recon3r reconstruct`"),
    Case("depth focal zero", (*DEPTH_CMD, "--out", "{tmp}/x.ply", "--focal", "0"), r"--focal must be a positive"),
    Case("depth focal nan", (*DEPTH_CMD, "--out", "{tmp}/x.ply", "--focal", "nan"), r"--focal must be a positive"),
    Case("depth ok + overwrite", (*DEPTH_CMD, "--out", "{tmp}/x.ply", "--overwrite"), None, write("x.ply", "old"),
         lambda tmp, out, err: (tmp / "x.ply").read_bytes().startswith(b"ply")),
    # ---- stream
    Case("stream no weights", ("stream", "{photos}", "--out", "{tmp}/o"), r"no streaming model given"),
    Case("stream pair model", STREAM, r"this is a pair \(DUSt3R-style\) model; use `recon3r reconstruct`"),
    Case("stream out is a file", (*STREAM[:4], "--out", "{file}"), r"is a file, not a folder"),
    Case("stream out is the input", (*STREAM[:4], "--out", "{photos}"), r"is also an input"),
    Case("stream min-conf nan", (*STREAM, "--min-conf", "nan"), r"--min-conf must be a finite number"),
    # ---- single-image
    Case("single no weights", ("single-image", "{tmp}/object.png", "--out", "{tmp}/o"), r"no single-image model",
         OBJECT),
    Case("single mesh-size 3000", (*SINGLE, "--mesh-size", "3000"), r"--mesh-size must be >= 8 and <= 512, got 3000",
         OBJECT),
    Case("single mesh-threshold 0", (*SINGLE, "--mesh-threshold", "0"), r"--mesh-threshold must be > 0", OBJECT),
    Case("single mesh-threshold nan", (*SINGLE, "--mesh-threshold", "nan"), r"--mesh-threshold must be a finite number",
         OBJECT),
    Case("single views 0", (*SINGLE, "--views", "0"), r"--views must be >= 1", OBJECT),
    Case("single fps inf", (*SINGLE, "--fps", "inf"), r"--fps must be a finite number", OBJECT),
    Case("single source distance -1", (*SINGLE, "--source-distance", "-1"), r"--source-distance must be > 0", OBJECT),
    Case("single prompt and image", (*SINGLE, "--prompt", "a teapot", "--text-to-image", "{tmp}"), r"not both", OBJECT),
    Case("single 1x1 image", (*SINGLE,), r"image of size 1x1 is too small", image("object.png", 1, 1)),
    Case("single folder without images", ("single-image", "{tmp}/empty", "--weights", "{weights}", "--out", "{tmp}/o"),
         r"no images \(.*\) in this folder", lambda tmp: (tmp / "empty").mkdir()),
    Case("single pair model", SINGLE, r"this is a pair \(DUSt3R-style\) model; use `recon3r reconstruct`", OBJECT),
    Case("single out is a file", (*SINGLE[:4], "--out", "{file}"), r"is a file, not a folder", OBJECT),
]

_ENV: dict[str, str] = {}


def _pth(path: Path) -> None:
    """An official-style training checkpoint of a tiny pair model."""
    from recon3r.models import AsymmetricCroCo3DStereo
    from recon3r.utils.spec import format_spec

    kwargs = dict(enc_embed_dim=16, enc_depth=1, enc_num_heads=2, dec_embed_dim=16, dec_depth=1, dec_num_heads=2,
                  img_size=(32, 32), head_type="linear", pos_embed="RoPE100")
    path.parent.mkdir(parents=True, exist_ok=True)
    model = AsymmetricCroCo3DStereo(**kwargs)
    torch.save({"model": model.state_dict(),
                "args": argparse.Namespace(model=format_spec("AsymmetricCroCo3DStereo", kwargs))}, path)


def _kwargs_model(folder: Path, **changes) -> None:
    shutil.copytree(_ENV["weights"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["kwargs"].update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _head_model(source: str, folder: Path, bias: float, depth_mode: list | None = None) -> None:
    """A copy of `source` whose heads ignore the image: every pixel gets `bias` on every channel."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, folder)
    state = load_file(str(folder / "model.safetensors"))
    for key in state:
        if key.startswith("downstream_head") and key.endswith("proj.weight"):
            state[key] = torch.zeros_like(state[key])
        if key.startswith("downstream_head") and key.endswith("proj.bias"):
            state[key] = torch.full_like(state[key], bias)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    if depth_mode is not None:
        config = json.loads((folder / "config.json").read_text())
        config["kwargs"]["depth_mode"] = depth_mode
        (folder / "config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_weights, photo_paths):
    from recon3r.models import build_model, save_model

    root = tmp_path_factory.mktemp("hostile")
    _ENV.clear()
    _ENV.update(photos=str(photo_paths[0].parent), weights=str(tiny_weights), missing=str(root / "no-such-model"),
                file=str(root / "file.txt"))
    (root / "file.txt").write_text("a user's file")
    linear = ["linear", "-inf", "inf"]
    for name, bias, mode in (("zero", 0.0, None), ("huge", 40.0, None), ("tiny30", 1e-30, linear),
                             ("nan", float("nan"), None), ("const", 5.0, linear)):
        _head_model(str(tiny_weights), root / name, bias, mode)
        _ENV[name] = str(root / name)
    torch.manual_seed(0)
    _ENV["depth_model"] = str(save_model(build_model("Depth3DModel", dict(point_widths=(8,), head_widths=(8,))),
                                         root / "depth_model"))
    depth = np.fromfunction(lambda y, x: 2.0 + 0.01 * x + 0.02 * y, (24, 32))
    np.save(root / "depth.npy", depth)
    _ENV["depth"] = str(root / "depth.npy")
    _pth(root / "tiny.pth")
    _ENV["pth"] = str(root / "tiny.pth")
    return _ENV


def test_the_table_covers_every_command_with_enough_cases():
    commands = {case.argv[0] for case in CASES}
    assert commands >= {"reconstruct", "convert", "eval", "data", "train", "depth-to-3d", "stream", "single-image"}
    assert len(CASES) >= 60 and len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(case: Case, env, tmp_path, capsys):
    if "/sys/" in " ".join(case.argv) and not Path("/sys").is_dir():
        pytest.skip("no /sys on this system")
    if case.setup is not None:
        case.setup(tmp_path)
        capsys.readouterr()
    argv = [arg.format(**env, tmp=tmp_path) for arg in case.argv]
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse
        code = exit.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "this is a bug in recon3r" not in err, err
    if case.error is None:
        assert code == 0, err
        if case.check is not None:
            assert case.check(tmp_path, out, err) is not False
        return
    assert code == 2, (code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if case.usage:
        assert lines[0].startswith("usage:") and re.search(case.error, lines[-1]), err
        return
    errors = [line for line in lines if line.startswith("error:")]
    others = [line for line in lines if not line.startswith(("error:", "warning:"))]
    assert len(errors) == 1 and not others, err
    assert re.search(case.error, errors[0]), errors[0]
