"""The gradio page: upload photos, tune the reconstruction, see the scene in 3D, download it.

`build_demo(model, settings)` returns the `gr.Blocks`; `launch(...)` loads a checkpoint and serves
it. The page works offline: analytics and version checks are off, server-side rendering (a node
process) is off, and the default theme's fonts are served by the app itself. It binds to
127.0.0.1 unless `local_network` is asked for.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from recon3r.demo.backend import GEOMETRIES, GRAPH_KINDS, SCHEDULES, DemoBackend, DemoSettings, RunOptions

LOOPBACK = "127.0.0.1"
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


def server_settings(*, local_network: bool = False, port: int | None = None, max_file_mb: float = 20.0,
                    allowed_paths: list[str] | None = None) -> dict[str, Any]:
    """Keyword arguments of `gr.Blocks.launch`: loopback unless `local_network`, no share link,
    no SSR/MCP/PWA extras, and the per-file upload limit."""
    return {
        "server_name": ALL_INTERFACES if local_network else LOOPBACK,
        "server_port": port,
        "share": False,
        "inbrowser": False,
        "show_error": True,
        "ssr_mode": False,
        "mcp_server": False,
        "pwa": False,
        "enable_monitoring": False,
        "run_history": False,  # nothing kept in the browser, no link to outside storage
        "footer_links": ["api", "settings"],
        "max_file_size": f"{max_file_mb:g}mb",
        "allowed_paths": list(allowed_paths or []),
    }


def make_callbacks(backend: DemoBackend):
    """The page's event handlers around `backend`: (on_images, on_check, on_run).

    `on_images(files)` returns the captions-table rows. `on_check(files)` checks the uploads before
    a run, so a bad upload shows a message and leaves the last results in place. `on_run(files,
    captions, graph, graph_param, niter, schedule, min_conf, mask_far, far_ratio, geometry, frusta)`
    returns (GLB path, gallery items, download paths, summary markdown). User errors become
    `gr.Error` with an HTML-escaped message, so the page shows them and the server goes on.
    """
    import gradio as gr

    from recon3r.errors import Recon3rError

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

    def on_run(files, captions, graph, graph_param, niter, schedule, min_conf, mask_far, far_ratio, geometry,
               frusta, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (gradio reads the default)
        try:
            options = RunOptions(graph=graph, graph_param=int(graph_param or 0), niter=int(niter or 0),
                                 schedule=schedule, min_conf=float(min_conf), mask_far=bool(mask_far),
                                 far_ratio=float(far_ratio), geometry=geometry, frusta=bool(frusta))
            out = backend.run(files, captions, options, progress=progress)
        except (Recon3rError, FileNotFoundError) as err:
            raise page_error(err, "Cannot reconstruct") from None
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
                        niter = gr.Slider(0, 1000, value=300, step=10, label="Alignment iterations",
                                          elem_id="niter")
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
                    gr.Markdown(OPTIONS_HELP)
                run = gr.Button("Reconstruct", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                scene3d = gr.Model3D(label="Scene (GLB)", elem_id="scene3d", height=480,
                                     clear_color=(0.95, 0.95, 0.95, 1.0))
                maps = gr.Gallery(label="Depth and confidence", columns=4, elem_id="maps", height="auto")
                downloads = gr.File(label="Downloads: GLB, PLY, COLMAP (zip), transforms.json",
                                    file_count="multiple", interactive=False, elem_id="downloads")
                summary = gr.Markdown(elem_id="summary")

        images.change(on_images, inputs=images, outputs=captions)
        checked = run.click(on_check, inputs=images, outputs=None)
        checked.success(on_run, inputs=[images, captions, graph, graph_param, niter, schedule, min_conf, mask_far,
                                        far_ratio, geometry, frusta],
                        outputs=[scene3d, maps, downloads, summary], concurrency_limit=1)
    return demo


def launch(weights: str | Path | None = None, *, image_size: int | None = None, device: str = "auto",
           local_network: bool = False, port: int | None = None, max_images: int = 32, max_file_mb: float = 20.0,
           workdir: str | Path | None = None, block: bool = True):
    """Load the checkpoint (default: the shipped example model), build the page and serve it.

    With `block` (the CLI) it serves until interrupted; otherwise it returns the running
    `gr.Blocks` at once (`.local_url`, `.close()`). Raises ConfigError when no weights are given
    and the example model is missing, or for an image size other than 224 or 512.
    """
    disable_telemetry()
    from recon3r import load_model
    from recon3r.errors import ConfigError
    from recon3r.reconstruct import resolve_weights

    if image_size not in (None, 224, 512):
        raise ConfigError(f"--image-size must be 224 or 512, got {image_size}")
    model = load_model(resolve_weights(str(weights) if weights else None), device=device)
    settings = DemoSettings(image_size=image_size, device=device, max_images=max_images, max_file_mb=max_file_mb,
                            workdir=Path(workdir) if workdir else None)
    backend = DemoBackend(model, settings)
    demo = build_demo(model, backend=backend)
    demo.queue(default_concurrency_limit=1, max_size=16)
    kwargs = server_settings(local_network=local_network, port=port, max_file_mb=max_file_mb,
                             allowed_paths=[str(backend.workdir)])
    demo.launch(prevent_thread_lock=not block, **kwargs)
    return demo
