"""gradio components the page needs beyond gradio's own (imports gradio: load it from `build_demo` only)."""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.data_classes import ListFiles


class PhotoUpload(gr.File):
    """`gr.File(type="filepath")` that hands the callbacks the uploaded files' paths as they are.

    gradio's own `File.preprocess` opens an empty temporary file in its cache for every file of
    every event it handles and never deletes it (one stray file per photo per click); this one
    creates nothing. A template component: the browser draws it with gradio's File front end.
    """

    is_template = True

    def preprocess(self, payload: Any) -> list[str] | str | None:
        """The upload paths: a list for `file_count="multiple"`, else one path (None when empty)."""
        if payload is None:
            return None
        items = list(payload) if isinstance(payload, ListFiles) else [payload]
        paths = [item.path for item in items]
        return paths if self.file_count != "single" else (paths[0] if paths else None)
