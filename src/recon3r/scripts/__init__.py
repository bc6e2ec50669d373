"""Stand-alone scripts shipped with recon3r (run by other programs, e.g. Blender; not imported by the library)."""
