"""Procedural scenes with exact ground truth: seeded layouts, a CPU ray caster, camera paths.

`generate_scene(seed, index, kind, views, size)` builds a scene and its cameras;
`ProceduralScene.render(v)` gives RGB, metric z-depth, a valid mask and a foreground mask;
`write_procedural(out, scenes, views, ...)` writes a dataset in the recon3r multi-view format
(`recon3r.data.format`), which the `Procedural` dataset reads (or renders on the fly).
"""

from recon3r.data.procedural.cameras import (
    ASPECTS,
    KINDS,
    Camera,
    caption_from_intrinsics,
    exif_caption,
    image_size,
    look_at,
)
from recon3r.data.procedural.generate import (
    ProceduralScene,
    generate_scene,
    overlap_matrix,
    scene_name,
    write_procedural,
)
from recon3r.data.procedural.render import RenderedView, render, render_depth

__all__ = [
    "ASPECTS",
    "KINDS",
    "Camera",
    "ProceduralScene",
    "RenderedView",
    "caption_from_intrinsics",
    "exif_caption",
    "generate_scene",
    "image_size",
    "look_at",
    "overlap_matrix",
    "render",
    "render_depth",
    "scene_name",
    "write_procedural",
]
