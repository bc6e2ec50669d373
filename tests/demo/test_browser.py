"""End to end in a real headless Chromium: `recon3r demo` in a subprocess, driven as a person would.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` Python package (the `test`
extra); nothing is installed or downloaded at run time. Saves test-artifacts/demo.png.
"""

import os
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio", reason="the web demo needs the `demo` extra (gradio)")
CHROMIUM = Path("/usr/bin/chromium") if Path("/usr/bin/chromium").exists() else None
if CHROMIUM is None and shutil.which("chromium"):
    CHROMIUM = Path(shutil.which("chromium"))
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install -y chromium); the browser test needs it",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright package")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_TIMEOUT_MS = 120_000
# Alignment iterations of the run whose progress is watched (three images): enough that the run lasts a
# few seconds (the tiny model aligns 300 iterations in well under a second).
WATCHED_ITERATIONS = 3000


@pytest.fixture(scope="module")
def server(start_demo):
    """`recon3r demo` on a free loopback port, with a 1 MB upload limit; yields (url, process)."""
    demo = start_demo("--image-size", "224", "--max-file-mb", "1", "--max-iterations", str(WATCHED_ITERATIONS),
                      "--max-image-iterations", str(3 * WATCHED_ITERATIONS))
    try:
        yield demo.url, demo.process
    finally:
        demo.stop()
        print(demo.log_tail())  # shown by pytest when the test fails


@pytest.fixture(scope="module")
def browser_page():
    """A fresh headless Chromium profile; yields (page, requested URLs)."""
    with playwright_api.sync_playwright() as p, tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, accept_downloads=True,
            viewport={"width": 1400, "height": 1100})
        requests: list[str] = []
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.set_default_timeout(30_000)
        try:
            yield page, requests
        finally:
            context.close()


def canvas_has_content(page, selector: str) -> bool:
    """Whether the WebGL canvas shows more than its clear colour (some pixels differ from the mode)."""
    shot = ARTIFACTS / "scene3d.png"
    page.locator(selector).screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    background = np.median(pixels, axis=0)
    differs = np.abs(pixels - background).sum(axis=1) > 30
    return differs.mean() > 0.001


def set_iterations(page, niter: int) -> None:
    """Type `niter` into the alignment-iterations slider's number box."""
    box = page.locator("#niter input[type=number]")
    box.fill(str(niter))
    box.press("Enter")


def watch_progress(page, tracker: str, done, timeout_s: float) -> list[str]:
    """The texts the status tracker shows until `done` appears (progress, e.g. "reconstructing - 5.0%")."""
    texts: list[str] = []
    deadline = time.monotonic() + timeout_s
    while not done.count():
        if time.monotonic() > deadline:
            raise AssertionError(f"the run did not finish within {timeout_s:.0f} s; the page showed {texts[-3:]}")
        text = " ".join(page.locator(tracker).first.inner_text().split())
        if text and (not texts or texts[-1] != text):
            texts.append(text)
        time.sleep(0.05)
    return texts


def toast_text(page) -> str:
    page.locator(".toast-body").first.wait_for(state="visible")
    return " ".join(page.locator(".toast-body").all_inner_texts())


def close_toasts(page) -> None:
    for button in page.locator(".toast-body .toast-close").all():
        button.click()
    page.locator(".toast-body").first.wait_for(state="detached")


def test_upload_reconstruct_view_download_and_bad_uploads(server, browser_page, photos, text_file, tmp_path):
    from plyfile import PlyData

    url, process = server
    page, requests = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(url)
    page.locator("#run").wait_for()

    # Three images (two would be aligned as one pair, with no iterations to watch): the captions table
    # lists them, then a run fills the 3D view, gallery and downloads.
    page.locator("#images input[type=file]").set_input_files([str(p) for p in photos[:3]])
    page.locator("#captions", has_text="view_1.png").wait_for()
    set_iterations(page, WATCHED_ITERATIONS)
    page.locator("#run").click()
    ply_link = page.locator("#downloads a[download='points.ply']")
    shown = watch_progress(page, "#scene3d [data-testid='status-tracker']", ply_link, RUN_TIMEOUT_MS / 1000)
    assert any("%" in text for text in shown), f"no progress shown while running: {shown}"
    set_iterations(page, 300)
    for name in ("scene.glb", "colmap.zip", "transforms.json"):
        assert page.locator(f"#downloads a[download='{name}']").count() == 1, name
    assert page.locator("#maps img").count() >= 4  # depth + confidence of each image

    glb_link = page.locator("#scene3d [data-testid='model3d-download-link']")
    glb = page.request.get(urllib.parse.urljoin(url, glb_link.get_attribute("href")))
    assert glb.ok and glb.body()[:4] == b"glTF" and len(glb.body()) > 10_000
    canvas = page.locator("#scene3d canvas")
    assert canvas.count() == 1 and canvas.bounding_box()["width"] > 100
    time.sleep(1.0)  # let the viewer draw a frame
    assert canvas_has_content(page, "#scene3d canvas")
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)

    with page.expect_download() as download_info:
        ply_link.click()
    saved = tmp_path / "points.ply"
    download_info.value.save_as(saved)
    vertex = PlyData.read(str(saved))["vertex"]
    assert vertex.count > 0 and np.isfinite(np.stack([vertex["x"], vertex["y"], vertex["z"]])).all()

    # A text file: the page says so and the server goes on.
    page.locator("#images button[aria-label='Clear']").first.click()
    page.locator("#images input[type=file]").set_input_files([str(text_file)])
    assert "notes.txt is not an image this demo can read" in toast_text(page)
    close_toasts(page)

    # One image only, then Reconstruct: a message, not a crash.
    page.locator("#images button[aria-label='Clear']").first.click()
    page.locator("#images input[type=file]").set_input_files([str(photos[0])])
    page.locator("#captions", has_text="view_0.png").wait_for()
    page.locator("#run").click()
    assert "needs two or more images, got only 1 image" in toast_text(page)
    close_toasts(page)

    # A file over the 1 MB limit is refused at upload.
    huge = tmp_path / "huge.png"
    huge.write_bytes(os.urandom(1_500_000))
    page.locator("#images button[aria-label='Clear']").first.click()
    page.locator("#images input[type=file]").set_input_files([str(huge)])
    assert "huge.png" in toast_text(page) and "maximum allowed size" in toast_text(page)
    page.screenshot(path=str(ARTIFACTS / "demo-errors.png"), full_page=True)

    assert process.poll() is None
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
    outside = [u for u in requests if urllib.parse.urlsplit(u).scheme in ("http", "https", "ws", "wss")
               and urllib.parse.urlsplit(u).hostname != "127.0.0.1"]
    assert outside == [], f"the page fetched from outside: {outside[:5]}"
