"""Evaluation: the field's metrics (`metrics`), real benchmark sets (`realsets`) and the classical
COLMAP baseline (`colmap_baseline`). Submodules are imported on use; scipy and pycolmap load lazily."""
