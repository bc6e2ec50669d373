"""The web demo (`recon3r demo`): a gradio page over `recon3r.reconstruct` (needs the `demo` extra).

- `recon3r.demo.app`: `build_demo(model, settings) -> gr.Blocks`, `launch(...) -> DemoServer`,
  `server_settings(...)`;
- `recon3r.demo.backend`: the page's callbacks as plain functions (`DemoBackend`, `RunOptions`) and
  the per-run limits (`DemoSettings`);
- `recon3r.demo.session`: the process's temporary folder, removed at exit, SIGINT and SIGTERM;
- `recon3r.demo.maps`: depth and confidence maps as colour images.

Importing this package does not import gradio; `build_demo` and `launch` do.
"""

from __future__ import annotations

from recon3r.demo.app import DemoServer, build_demo, launch, server_settings
from recon3r.demo.backend import DemoBackend, DemoSettings, RunOptions, RunOutputs
from recon3r.demo.session import DemoSession

__all__ = ["DemoBackend", "DemoServer", "DemoSession", "DemoSettings", "RunOptions", "RunOutputs", "build_demo",
           "launch", "server_settings"]
