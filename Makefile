# Two commands do the whole set-up on a fresh machine:
#   make demo   - create .venv, install recon3r, reconstruct the bundled example scene with the shipped model
#   make test   - create .venv, install recon3r with every extra, run lint and the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo

.PHONY: venv browser textures test test-fast lint demo benchmarks clean

venv: $(STAMP)

# torch is pinned and installed first: 2.13.0 (CPU) lies on local disk, an unpinned torch downloads gigabytes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[all,test]"
	touch $(STAMP)

# The demo's end-to-end test drives Debian's Chromium (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Real photos for the sim-to-real generator (`recon3r data make-procedural --textures photo`): Debian's wallpaper
# packages whose photographs carry free licences (GPL-2+, LGPL-3, CC-BY(-SA), CC0; each file's licence is read
# from the package and recorded in the generated dataset). Without them the generator falls back to procedural
# textures with a warning (so a failed install warns here instead of stopping `make test`).
TEXTURE_PACKAGES := mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
textures:
	@dpkg -s $(TEXTURE_PACKAGES) >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(TEXTURE_PACKAGES) >/dev/null \
	  || echo "warning: could not install $(TEXTURE_PACKAGES): make-procedural --textures photo falls back to procedural textures" >&2; }

test: venv browser textures
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow and not browser"

lint: venv
	$(PY) -m ruff check src tests benchmarks

demo: venv
	$(VENV)/bin/recon3r reconstruct examples/procedural_scene/scene_00000/images --out $(DEMO_OUT)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
