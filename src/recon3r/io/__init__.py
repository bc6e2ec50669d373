"""Reading images into network-ready views, and exporting reconstructions (`recon3r.io.exports`)."""

from recon3r.io.exports import export_scene
from recon3r.io.images import IMAGE_EXTENSIONS, View, list_images, load_images, load_view, plan_resize

__all__ = ["IMAGE_EXTENSIONS", "View", "export_scene", "list_images", "load_images", "load_view", "plan_resize"]
