"""Volume renderers shared by the radiance-field models."""

from recon3r.models.renderers.importance import (
    OUTSIDE_DENSITY,
    density_activation,
    importance_depths,
    march,
    ray_limits,
    render_rays,
    sample_pdf,
    stratified_depths,
)

__all__ = [
    "OUTSIDE_DENSITY",
    "density_activation",
    "importance_depths",
    "march",
    "ray_limits",
    "render_rays",
    "sample_pdf",
    "stratified_depths",
]
