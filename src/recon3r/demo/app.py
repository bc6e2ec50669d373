"""The gradio page: upload photos, tune the reconstruction, see the scene in 3D, download it.

`build_demo(model, settings)` returns the `gr.Blocks`; `launch(...)` loads a checkpoint and serves
it. The page works offline: analytics and version checks are off, server-side rendering (a node
process) is off, and the default theme's fonts are served by the app itself. It binds to
127.0.0.1 unless `local_network` (or another `server_name`) is asked for.

A served demo keeps every temporary file in one session folder (`recon3r.demo.session`), removed
when it stops: at exit, on SIGINT and on SIGTERM. A request its client cancels stops its
reconstruction at the next stage boundary, inference batch or alignment step, before the next
request starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import html
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from recon3r.demo.backend import GEOMETRIES, GRAPH_KINDS, SCHEDULES, DemoBackend, DemoSettings, RunOptions
from recon3r.demo.session import DemoSession, signals_deferred, stop_on_terminate
from recon3r.utils.cancel import CancelCheck

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
GRACEFUL_SHUTDOWN_S = 1  # seconds open connections get when the demo stops
ALL_INTERFACES = "0.0.0.0"

INTRO = """\
# recon3r: 3D from photos
Upload two or more photos of one scene, check the captions, and press **Reconstruct**.
The pair model predicts a pointmap for each pair of images; global alignment puts them in one frame.
"""

OPTIONS_HELP = """\
- **Scene graph**: which image pairs the model sees. *complete*: all pairs; *swin*: each image with
  the next K (K = the number below); *logwin*: offsets 1, 2, 4, ...; *oneref*: image K with every other.
- **Alignment iterations** and **schedule**: gradient steps of global alignment (two images need none).
- **Minimum confidence**: points whose predicted confidence is lower are dropped from every export.
- **Mask sky / far background**: also drops points deeper than *cutoff* × the median depth of their
  image (sky and distant background come out far away).
- **Captions** are passed to the model with the images; image-only models ignore them.
"""


def disable_telemetry() -> None:
    """Turn gradio's analytics and version check off for this process (before gradio is imported)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_SSR_MODE", "False")


def server_settings(*, local_network: bool = False, server_name: str | None = None, port: int | None = None,
                    max_file_mb: float = 20.0, allowed_paths: list[str] | None = None,
                    quiet: bool = False) -> dict[str, Any]:
    """Keyword arguments of `gr.Blocks.launch`: loopback unless `local_network` (all interfaces) or
    `server_name` (that address), no share link, no SSR/MCP/PWA extras, and the per-file upload limit."""
    return {
        "server_name": server_name or (ALL_INTERFACES if local_network else LOOPBACK),
        "server_port": port,
        "share": False,
        "inbrowser": False,
        "show_error": True,
        "quiet": quiet,
        "ssr_mode": False,
        "mcp_server": False,
        "pwa": False,
        "enable_monitoring": False,
        "run_history": False,  # nothing kept in the browser, no link to outside storage
        "footer_links": ["api", "settings"],
        "max_file_size": f"{max_file_mb:g}mb",
        "allowed_paths": list(allowed_paths or []),
    }


async def run_cancellable(work: Callable[[CancelCheck], T]) -> T:
    """`work(cancel)` in a worker thread; if this coroutine is cancelled (gradio cancels the task of
    a request its client cancelled), `cancel()` turns True and the cancellation waits until `work`
    has returned or raised, so the model and the queue slot are free before the next request.

    The worker runs in a copy of this context: gradio's progress tracking lives in context variables.
    """
    stop = threading.Event()
    context = contextvars.copy_context()
    future = asyncio.get_running_loop().run_in_executor(None, context.run, work, stop.is_set)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: ending with Cancelled is what was asked for
        raise


def make_callbacks(backend: DemoBackend):
    """The page's event handlers around `backend`: (on_images, on_check, on_run).

    `on_images(files)` returns the captions-table rows. `on_check(files)` checks the uploads before
    a run, so a bad upload shows a message and leaves the last results in place. `on_run(files,
    captions, graph, graph_param, niter, schedule, min_conf, mask_far, far_ratio, geometry, frusta)`
    is a coroutine returning (GLB path, gallery items, download paths, summary markdown); it runs
    the reconstruction in a worker thread that stops when the request is cancelled. User errors
    become `gr.Error` with an HTML-escaped message, so the page shows them and the server goes on.
    """
    import gradio as gr

    from recon3r.errors import Cancelled, Recon3rError

    def page_error(err: Exception, title: str) -> Exception:
        return gr.Error(html.escape(str(err)), title=title, duration=30, print_exception=False)

    def on_images(files):
        try:
            return backend.caption_rows(files)
        except Recon3rError as err:
            raise page_error(err, "Bad upload") from None

    def on_check(files):
        try:
            backend.check_uploads(files, min_images=2)
        except Recon3rError as err:
            raise page_error(err, "Cannot reconstruct") from None

    async def on_run(files, captions, graph, graph_param, niter, schedule, min_conf, mask_far, far_ratio, geometry,
                     frusta, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (gradio reads the default)
        try:
            options = RunOptions(graph=graph, graph_param=int(graph_param or 0), niter=int(niter or 0),
                                 schedule=schedule, min_conf=float(min_conf), mask_far=bool(mask_far),
                                 far_ratio=float(far_ratio), geometry=geometry, frusta=bool(frusta))
            out = await run_cancellable(
                lambda cancel: backend.run(files, captions, options, progress=progress, cancel=cancel))
        except (Recon3rError, FileNotFoundError) as err:
            raise page_error(err, "Cannot reconstruct") from None
        except Cancelled:  # the server is stopping
            raise gr.Error("the demo is shutting down; this run was stopped", title="Stopped",
                           print_exception=False) from None
        except Exception as err:  # a bug or a numerical failure: say so in the page, log the traceback
            raise gr.Error(html.escape(f"the reconstruction failed ({type(err).__name__}: {err})"),
                           title="Reconstruction failed", duration=None) from err
        for message in out.warnings:
            gr.Warning(html.escape(message))
        return str(out.glb), out.gallery, out.downloads, f"```\n{out.summary}\n```"

    return on_images, on_check, on_run


def build_demo(model: Any, settings: DemoSettings | None = None, *, backend: DemoBackend | None = None):
    """The gradio Blocks of the demo around a loaded pair model (returns `gr.Blocks`)."""
    disable_telemetry()
    import gradio as gr

    backend = backend or DemoBackend(model, settings)
    limits = backend.settings
    on_images, on_check, on_run = make_callbacks(backend)
    limits_help = (f"- **Limits per run**: {limits.max_images} images, {limits.max_iterations} iterations, and "
                   f"{limits.max_image_iterations:,} images × iterations (two images need no iterations); "
                   "a run takes roughly the square of the number of images times the iterations, so prefer "
                   "*swin* for many images.\n")

    with gr.Blocks(title="recon3r demo", analytics_enabled=False, delete_cache=(900, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                images = gr.File(label=f"Images (2 to {limits.max_images}, up to {limits.max_file_mb:g} MB each)",
                                 file_count="multiple", type="filepath", elem_id="images")
                captions = gr.Dataframe(headers=["image", "caption"], value=[], type="array", interactive=True,
                                        label="Captions (from EXIF where present; editable)", elem_id="captions",
                                        static_columns=[0], column_count=2, wrap=True)
                with gr.Accordion("Options", open=True):
                    with gr.Row():
                        graph = gr.Dropdown(list(GRAPH_KINDS), value="complete", label="Scene graph",
                                            elem_id="graph")
                        graph_param = gr.Number(value=3, precision=0, minimum=0, label="Window size / reference image",
                                                elem_id="graph-param")
                    with gr.Row():
                        niter = gr.Slider(0, limits.max_iterations, value=min(300, limits.max_iterations), step=10,
                                          label="Alignment iterations", elem_id="niter")
                        schedule = gr.Radio(list(SCHEDULES), value="cosine", label="Schedule", elem_id="schedule")
                    min_conf = gr.Slider(1.0, 20.0, value=3.0, step=0.1, label="Minimum confidence",
                                         elem_id="min-conf")
                    with gr.Row():
                        mask_far = gr.Checkbox(value=False, label="Mask sky / far background", elem_id="mask-far")
                        far_ratio = gr.Slider(1.2, 10.0, value=3.0, step=0.1, label="Cutoff (× median depth)",
                                              elem_id="far-ratio")
                    with gr.Row():
                        geometry = gr.Radio(list(GEOMETRIES), value="points", label="3D view", elem_id="geometry")
                        frusta = gr.Checkbox(value=True, label="Show cameras", elem_id="frusta")
                    gr.Markdown(OPTIONS_HELP + limits_help)
                run = gr.Button("Reconstruct", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                scene3d = gr.Model3D(label="Scene (GLB)", elem_id="scene3d", height=480,
                                     clear_color=(0.95, 0.95, 0.95, 1.0))
                maps = gr.Gallery(label="Depth and confidence", columns=4, elem_id="maps", height="auto")
                downloads = gr.File(label="Downloads: GLB, PLY, COLMAP (zip), transforms.json",
                                    file_count="multiple", interactive=False, elem_id="downloads")
                summary = gr.Markdown(elem_id="summary")

        # preprocess=False: the callbacks get the uploads as {"path": ...} records (gradio has already
        # checked that each lies in its upload folder). gr.File's own preprocess would leave an empty
        # temporary file in gradio's cache per photo and per event.
        images.change(on_images, inputs=images, outputs=captions, api_name="captions", preprocess=False)
        checked = run.click(on_check, inputs=images, outputs=None, api_name="check", preprocess=False)
        checked.success(on_run, inputs=[images, captions, graph, graph_param, niter, schedule, min_conf, mask_far,
                                        far_ratio, geometry, frusta],
                        outputs=[scene3d, maps, downloads, summary], concurrency_limit=1, api_name="reconstruct",
                        preprocess=False)
    return demo


@dataclass
class DemoServer:
    """A served demo: the gradio app, its backend and its session folder (see `launch`)."""

    blocks: Any  # gr.Blocks
    backend: DemoBackend
    session: DemoSession

    @property
    def server_name(self) -> str:
        return self.blocks.server_name

    @property
    def server_port(self) -> int:
        return self.blocks.server_port

    @property
    def local_url(self) -> str:
        return self.blocks.local_url

    def close(self) -> None:
        """Stop the run in progress at its next check, stop serving, and delete every temporary file."""
        with signals_deferred():
            self.backend.close()
            http = getattr(self.blocks, "server", None)  # uvicorn's Server, once launched
            if http is not None:
                # Open streams (a client still waiting on a stopped run) would hold uvicorn's
                # graceful shutdown, and gradio waits 5 s for it: give them a second.
                http.config.timeout_graceful_shutdown = GRACEFUL_SHUTDOWN_S
            self.blocks.close(verbose=False)
            self.session.close()


def launch(weights: str | Path | None = None, settings: DemoSettings | None = None, *,
           workdir: str | Path | None = None, local_network: bool = False, server_name: str | None = None,
           port: int | None = None, quiet: bool = False, block: bool = True) -> DemoServer:
    """Load the checkpoint (default: the shipped example model), build the page and serve it.

    `settings` holds the per-run limits and the device; its `workdir` is replaced by the session's
    `runs/` folder. The session folder is made in `workdir` (default: the system temporary folder),
    and every temporary file of this process goes there (see `recon3r.demo.session`).

    With `block` (the CLI) it serves until SIGINT or SIGTERM, then stops the run in progress,
    deletes the session folder and returns. Otherwise it returns the running `DemoServer` at
    once; its `close()` does the same. Raises ConfigError when no weights are given and the
    example model is missing, for bad settings, or when the address cannot be served.
    """
    disable_telemetry()
    from recon3r import load_model
    from recon3r.errors import ConfigError
    from recon3r.reconstruct import resolve_weights

    settings = settings or DemoSettings()
    settings.check()
    with stop_on_terminate() if block else contextlib.nullcontext():
        session = DemoSession.start(workdir)  # before the model and gradio: their temporary files go there too
        server = None
        try:
            model = load_model(resolve_weights(str(weights) if weights else None), device=settings.device)
            backend = DemoBackend(model, replace(settings, workdir=session.runs))
            demo = build_demo(model, backend=backend)
            server = DemoServer(blocks=demo, backend=backend, session=session)
            demo.queue(default_concurrency_limit=1, max_size=16)
            kwargs = server_settings(local_network=local_network, server_name=server_name, port=port,
                                     max_file_mb=settings.max_file_mb, allowed_paths=[str(backend.workdir)],
                                     quiet=quiet)
            try:
                demo.launch(prevent_thread_lock=True, **kwargs)
            except OSError as err:
                raise ConfigError(f"cannot serve on {kwargs['server_name']}:{port or 'a port from 7860'}: "
                                  f"{str(err).split('. ')[0]}") from None
        except BaseException:
            if server is not None:
                server.close()
            else:
                with signals_deferred():
                    session.close()
            raise
        if not block:
            return server
        # Not gradio's block_thread(): on Ctrl-C it stops the HTTP server first, which waits (up to
        # 5 s) for the request in progress while its run goes on. server.close() stops the run first.
        try:
            while demo.is_running:
                time.sleep(0.1)
        except KeyboardInterrupt as stop:  # SIGINT, or SIGTERM through stop_on_terminate
            if not quiet:
                print(f"recon3r demo: {stop or 'interrupted'}; stopping and deleting {session.folder}",
                      file=sys.stderr)
        finally:
            server.close()
    return server
