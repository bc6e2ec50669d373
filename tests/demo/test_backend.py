"""The demo's callbacks without a browser: uploads, EXIF captions, one reconstruction, errors."""

import asyncio
import json
import zipfile

import numpy as np
import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from recon3r.demo.backend import DemoBackend, DemoSettings, RunOptions, caption_map, unique_names
from recon3r.errors import ConfigError, ImageLoadError

gr = pytest.importorskip("gradio", reason="the web demo needs the `demo` extra (gradio)")


@pytest.fixture(scope="module")
def backend(tiny_model, tmp_path_factory):
    return DemoBackend(tiny_model, DemoSettings(image_size=224, workdir=tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="module")
def two_view_run(backend, photos):
    """One run of two views with captions edited in the table, recording progress and captions."""
    import recon3r.inference

    seen_captions, fractions = [], []
    original = recon3r.inference.run_pairs

    def spy(model, pairs, **kwargs):
        seen_captions.extend((a.name, a.caption) for a, _ in pairs)
        return original(model, pairs, **kwargs)

    recon3r.inference.run_pairs = spy
    try:
        rows = [["view_0.png", "Make: Canon, FocalLength: 50.0 mm"], ["view_1.png", "  "]]
        out = backend.run(photos[:2], rows, RunOptions(niter=0),
                          progress=lambda fraction, desc=None: fractions.append(fraction))
    finally:
        recon3r.inference.run_pairs = original
    return out, dict(seen_captions), fractions


def test_run_writes_glb_ply_colmap_zip_and_transforms(two_view_run):
    import trimesh
    from plyfile import PlyData

    out, _, _ = two_view_run
    assert [p.rsplit("/", 1)[-1] for p in out.downloads] == ["scene.glb", "points.ply", "colmap.zip",
                                                             "transforms.json"]
    vertices = PlyData.read(str(out.ply))["vertex"]
    assert vertices.count > 0 and np.isfinite(vertices["x"]).all()
    glb = trimesh.load(out.glb, file_type="glb", force="scene")
    assert "points" in glb.geometry and {"camera_000", "camera_001"} <= set(glb.geometry)
    assert len(glb.geometry["points"].vertices) == vertices.count
    with zipfile.ZipFile(out.colmap_zip) as archive:
        names = set(archive.namelist())
    assert {"sparse/0/cameras.txt", "sparse/0/images.txt", "sparse/0/points3D.txt",
            "images/view_0.png", "images/view_1.png"} <= names
    frames = json.loads(out.transforms.read_text())["frames"]
    assert [f["file_path"] for f in frames] == ["images/view_0.png", "images/view_1.png"]
    assert f"points kept: {vertices.count:,}" in out.summary


def test_run_returns_depth_and_confidence_images_at_network_size(two_view_run):
    out, _, _ = two_view_run
    assert [caption for _, caption in out.gallery] == ["view_0.png: depth", "view_0.png: confidence",
                                                       "view_1.png: depth", "view_1.png: confidence"]
    for path, _ in out.gallery:
        with Image.open(path) as image:
            assert image.size == (224, 224) and image.mode == "RGB"
            assert np.asarray(image).std() > 0  # not a blank picture


def test_edited_captions_reach_the_model_and_blank_means_none(two_view_run):
    _, captions, _ = two_view_run
    assert captions == {"view_0.png": "Make: Canon, FocalLength: 50.0 mm", "view_1.png": None}


def test_progress_is_reported_from_start_to_done(two_view_run):
    _, _, fractions = two_view_run
    assert fractions[0] < 0.1 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_default_workdir_is_temporary_and_removed_with_the_backend(tiny_model):
    import gc

    backend = DemoBackend(tiny_model)
    workdir = backend.workdir
    assert workdir.is_dir() and workdir.name.startswith("recon3r-demo-")
    del backend
    gc.collect()
    assert not workdir.exists()


def test_each_run_gets_its_own_folder_and_old_ones_are_pruned(tiny_model, tmp_path):
    backend = DemoBackend(tiny_model, DemoSettings(workdir=tmp_path, keep_runs=2))
    folders = [backend._new_run_folder() for _ in range(4)]
    assert len(set(folders)) == 4 and all(f.parent == tmp_path for f in folders)
    assert sorted(p for p in tmp_path.iterdir()) == sorted(folders[-2:])


def test_mesh_without_frusta_has_mesh_nodes_and_no_cameras(backend, photos):
    import trimesh

    out = backend.run(photos[:2], None, RunOptions(niter=0, geometry="mesh", frusta=False))
    glb = trimesh.load(out.glb, file_type="glb", force="scene")
    assert set(glb.geometry) == {"mesh_000", "mesh_001"}


def test_text_file_upload_is_a_clear_error(backend, photos, text_file):
    with pytest.raises(ImageLoadError, match=r"notes\.txt is not an image this demo can read"):
        backend.caption_rows([photos[0], text_file])
    with pytest.raises(ImageLoadError, match=r"notes\.txt is not an image"):
        backend.run([photos[0], photos[1], text_file], None, RunOptions(niter=0))


def test_one_image_is_a_clear_error(backend, photos):
    assert backend.caption_rows(photos[:1]) == [["view_0.png", ""]]  # uploading one at a time is fine
    with pytest.raises(ImageLoadError, match="needs two or more images, got only 1 image"):
        backend.run(photos[:1], None, RunOptions())
    with pytest.raises(ImageLoadError, match="got no image"):
        backend.run(None, None, RunOptions())


def test_too_many_and_too_large_uploads_are_refused(tiny_model, photos, tmp_path):
    few = DemoBackend(tiny_model, DemoSettings(max_images=2, workdir=tmp_path))
    with pytest.raises(ImageLoadError, match="3 files uploaded; this demo takes at most 2 images"):
        few.caption_rows(photos)
    small = DemoBackend(tiny_model, DemoSettings(max_file_mb=0.01, workdir=tmp_path))
    with pytest.raises(ImageLoadError, match=r"view_0\.png is 0\.\d MB; files up to 0\.01 MB"):
        small.caption_rows(photos[:1])
    Image.new("RGB", (3000, 2000)).save(tmp_path / "wide.png")
    pixels = DemoBackend(tiny_model, DemoSettings(max_megapixels=5, workdir=tmp_path))
    with pytest.raises(ImageLoadError, match=r"wide\.png is 3000x2000 \(6 megapixels\)"):
        pixels.caption_rows([tmp_path / "wide.png"])


def test_exif_captions_prefill_the_table(backend, photos, tmp_path):
    tag = ExifTags.Base
    exif = Image.Exif()
    exif[tag.Make], exif[tag.Model] = "Canon", "Canon EOS 5D"
    exif.get_ifd(ExifTags.IFD.Exif)[tag.FocalLength] = IFDRational(50, 1)
    Image.new("RGB", (64, 48), (90, 120, 30)).save(tmp_path / "canon.jpg", "JPEG", exif=exif)
    rows = backend.caption_rows([tmp_path / "canon.jpg", photos[0]])
    assert rows == [["canon.jpg", "Make: Canon, Model: Canon EOS 5D, FocalLength: 50.0 mm, ImageWidth: 64, "
                                  "ImageHeight: 48"], ["view_0.png", ""]]


def test_bad_options_name_the_value(backend, photos):
    with pytest.raises(ConfigError, match="unknown scene graph 'ring'"):
        backend.run(photos[:2], None, RunOptions(graph="ring"))
    with pytest.raises(ConfigError, match="swin window size must be 1 or more, got 0"):
        backend.run(photos[:2], None, RunOptions(graph="swin", graph_param=0))
    assert RunOptions(graph="oneref", graph_param=1).graph_spec() == "oneref-1"
    assert RunOptions(graph="logwin", graph_param=2).graph_spec() == "logwin-2"


def test_upload_names_are_unique_and_safe(tmp_path):
    paths = [tmp_path / "a" / "photo.JPG", tmp_path / "b" / "photo.jpg", tmp_path / "my photo (1).png"]
    assert unique_names(paths) == ["photo.jpg", "photo_1.jpg", "my_photo_1.png"]


def test_caption_rows_map_by_name_and_skip_blanks():
    import pandas as pd

    rows = [["a.png", "free text"], ["b.png", ""], ["", "orphan"], ["c.png", None], ["d.png", float("nan")]]
    assert caption_map(rows) == {"a.png": "free text", "b.png": None, "c.png": None, "d.png": None}
    frame = pd.DataFrame(rows[:2], columns=["image", "caption"])
    assert caption_map(frame) == {"a.png": "free text", "b.png": None}


# ------------------------------------------------------------------ the gradio layer
def test_page_callbacks_turn_bad_input_into_page_errors(backend, photos, text_file):
    from recon3r.demo.app import make_callbacks

    on_images, on_check, on_run = make_callbacks(backend)
    assert on_images([str(p) for p in photos[:2]]) == [["view_0.png", ""], ["view_1.png", ""]]
    with pytest.raises(gr.Error, match=r"notes\.txt is not an image") as caught:
        on_images([str(text_file)])
    assert caught.value.print_exception is False
    on_check([str(p) for p in photos[:2]])
    with pytest.raises(gr.Error, match="needs two or more images, got only 1 image"):
        on_check([str(photos[0])])
    options = ("complete", 3, 0, "cosine", 3.0, False, 3.0, "points", True)
    with pytest.raises(gr.Error, match="needs two or more images"):
        asyncio.run(on_run([str(photos[0])], [], *options, progress=lambda *a, **k: None))


def test_page_error_messages_are_html_escaped(backend, tmp_path):
    from recon3r.demo.app import make_callbacks

    on_images, _, _ = make_callbacks(backend)
    bad = tmp_path / "<b>x<i>.png"
    bad.write_text("not an image")
    with pytest.raises(gr.Error) as caught:
        on_images([str(bad)])
    assert "&lt;b&gt;x&lt;i&gt;.png is not an image" in caught.value.message


def test_run_callback_returns_what_the_page_shows(backend, photos):
    from recon3r.demo.app import make_callbacks

    _, _, on_run = make_callbacks(backend)
    glb, gallery, downloads, summary = asyncio.run(on_run(
        [str(p) for p in photos[:2]], [["view_0.png", ""]], "complete", 3, 0, "linear", 3.0, True, 2.0, "points",
        True, progress=lambda *a, **k: None))
    assert glb.endswith("scene.glb") and glb == downloads[0] and len(gallery) == 4
    assert summary.startswith("```\nimages used: 2 (2 pairs at 224 px)")


def test_unexpected_failures_reach_the_page_as_errors(backend, photos, monkeypatch):
    import recon3r.reconstruct
    from recon3r.demo.app import make_callbacks

    def broken(config, model=None, cancel=None):
        raise RuntimeError("linalg.svd did not converge")

    monkeypatch.setattr(recon3r.reconstruct, "reconstruct", broken)
    _, _, on_run = make_callbacks(backend)
    with pytest.raises(gr.Error, match=r"the reconstruction failed \(RuntimeError: linalg.svd did not converge\)"):
        asyncio.run(on_run([str(p) for p in photos[:2]], None, "complete", 3, 0, "cosine", 3.0, False, 3.0,
                           "points", True, progress=lambda *a, **k: None))


# ------------------------------------------------------------------ limits, cancellation, storage
def test_runs_over_the_image_iteration_limit_are_refused_with_what_fits(tiny_model, photos, tmp_path):
    backend = DemoBackend(tiny_model, DemoSettings(workdir=tmp_path, max_iterations=500, max_image_iterations=600))
    with pytest.raises(ConfigError, match=r"3 images × 300 alignment iterations = 900 image-iterations, over this "
                                          r"demo's limit of 600 per run; use at most 200 iterations with 3 images"):
        backend.run(photos, None, RunOptions(niter=300))
    with pytest.raises(ConfigError, match="alignment iterations must be between 0 and 500, got 501"):
        backend.run(photos[:2], None, RunOptions(niter=501))
    backend.settings.check_work(2, 500)  # two images are aligned without iterations: no image-iterations
    backend.settings.check_work(3, 200)
    assert list(tmp_path.iterdir()) == []  # refused before any folder is made


def test_a_cancelled_run_stops_and_leaves_no_run_folder(tiny_model, photos, tmp_path):
    from recon3r.errors import Cancelled

    backend = DemoBackend(tiny_model, DemoSettings(workdir=tmp_path, image_size=224))
    checks = []

    def cancel_during_alignment():
        checks.append(1)
        return len(checks) >= 5  # checks: the start, the inference batch, the stage boundary, steps 1 and 2

    with pytest.raises(Cancelled, match="alignment step 2 of 300"):
        backend.run(photos, None, RunOptions(niter=300), cancel=cancel_during_alignment)
    assert list(tmp_path.iterdir()) == []
    assert backend.run(photos[:2], None, RunOptions(niter=0)).folder.is_dir()  # the lock was released


def test_close_stops_the_run_in_progress_and_removes_its_own_folder(tiny_model, photos):
    import threading
    import time

    from recon3r.errors import Cancelled

    backend = DemoBackend(tiny_model, DemoSettings(image_size=224))
    started, outcome = threading.Event(), []

    def run():
        try:
            backend.run(photos, None, RunOptions(niter=1000), cancel=lambda: started.set() or False)
        except Cancelled as err:
            outcome.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(30)
    tick = time.perf_counter()
    backend.close()
    worker.join(30)
    assert time.perf_counter() - tick < 10 and len(outcome) == 1
    assert not backend.workdir.exists()


def test_results_are_stored_once_and_old_runs_are_pruned_by_size(tiny_model, photos, tmp_path):
    backend = DemoBackend(tiny_model, DemoSettings(workdir=tmp_path, image_size=224))
    first = backend.run(photos[:2], None, RunOptions(niter=0))
    names = {p.relative_to(first.folder).as_posix() for p in first.folder.rglob("*") if p.is_file()}
    assert not any(name.startswith(("colmap/", ".colmap")) for name in names)  # only the zip of the COLMAP model
    assert (first.folder / "images" / "view_0.png").stat().st_ino == photos[0].stat().st_ino  # a link, not a copy
    size_mb = sum(p.stat().st_size for p in first.folder.rglob("*") if p.is_file()) / 1e6
    backend.settings.max_results_mb = 1.5 * size_mb  # room for one run, not two
    second = backend.run(photos[:2], None, RunOptions(niter=0))
    assert not first.folder.exists() and second.folder.is_dir()
    assert sorted(tmp_path.iterdir()) == [second.folder]


def test_the_captions_table_as_gradio_sends_it():
    assert caption_map({"headers": ["image", "caption"], "data": [["a.png", "x"], ["b.png", ""]],
                        "metadata": None}) == {"a.png": "x", "b.png": None}


def test_cancelling_a_request_stops_its_work_before_the_cancellation_completes():
    import time

    from recon3r.demo.app import run_cancellable
    from recon3r.errors import Cancelled

    events = []

    def work(cancel):
        while not cancel():
            time.sleep(0.01)
        time.sleep(0.2)  # the step in progress ends
        events.append("stopped")
        raise Cancelled("cancelled at alignment step 7 of 1000")

    async def cancel_while_running():
        task = asyncio.ensure_future(run_cancellable(work))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        events.append("cancelled")

    asyncio.run(cancel_while_running())
    assert events == ["stopped", "cancelled"]
    assert asyncio.run(run_cancellable(lambda cancel: ("done", cancel()))) == ("done", False)
