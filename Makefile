# Two commands do the whole set-up on a fresh machine:
#   make demo   - create .venv, install recon3r, reconstruct the bundled example scene with the shipped model
#   make test   - create .venv, install recon3r with every extra, run lint and the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo

.PHONY: venv browser test test-fast lint demo benchmarks clean

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

test: venv browser
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
