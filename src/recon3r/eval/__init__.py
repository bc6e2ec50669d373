"""Evaluation: the field's metrics (`metrics`), real benchmark sets (`realsets`), the classical
COLMAP baseline (`colmap_baseline`), pair-level evaluation (`pairs`), and what `recon3r eval`
runs (`run`: `run_eval(EvalConfig(...))`): benchmark sets (`benchmarks`), methods (`methods`), tasks
(`tasks`) and reports (`report`).
Submodules are imported on use; scipy and pycolmap load lazily."""
