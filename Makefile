# The two Quick start commands (`make report`, `make test`) set up what they need themselves:
# a .venv with the pinned packages, the node package that validates KQL, and Chromium for the
# browser test. Each step runs again only when its inputs change.

# The newest supported Python on the PATH (3.13, 3.12, then 3.11); `make PYTHON=/path/to/python3.x` to choose.
SUPPORTED := 3.13 3.12 3.11
FOUND := $(shell for v in $(SUPPORTED); do python$$v -c '' 2>/dev/null && { echo python$$v; break; }; done)
PYTHON ?= $(or $(FOUND),python3.11)
VENV := .venv
BIN := $(VENV)/bin
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
OUT ?= reports/sample

.PHONY: report lab test lint setup sample lock check-lock bench clean

report: $(STAMP_PY)
	$(BIN)/apim-snat report --source sample --out $(OUT)
	@echo "Open $(OUT)/report.html in a browser."

# JupyterLab on the interactive notebook; every notebook names the kit's kernel (apim-snat), which
# the set-up registers inside .venv, so the notebooks run with the kit's pinned packages. Jupyter
# refuses to start as root (a container, a CI machine) unless told it may.
LAB_ARGS := $(strip $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/explore_incident.ipynb)
lab: $(STAMP_PY)
	$(BIN)/jupyter lab $(LAB_ARGS)

# The suite runs on every core (pytest-xdist); a worker takes the next test when it is free.
test: lint $(STAMP_PY) $(STAMP_NODE) chromium
	$(BIN)/python -m pytest -n auto --dist worksteal $(PYTEST_ARGS)

# The gates on analysis/ (settings in pyproject.toml): ruff's lint and format check, and mypy.
lint: $(STAMP_PY)
	$(BIN)/ruff check analysis tests bench
	$(BIN)/ruff format --check analysis tests bench
	$(BIN)/mypy

setup: $(STAMP_PY) $(STAMP_NODE)

$(STAMP_PY): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || \
	  { echo "error: no python3.13, python3.12 or python3.11 runs here;" \
	    "install one or run make PYTHON=/path/to/python3.x"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name apim-snat --display-name "Python (apim-snat kit)" >/dev/null
	touch $@

$(STAMP_NODE): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20 or newer"; exit 2; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser test opens the report in headless Chromium (Debian's package).
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "note: no chromium found; install it (apt-get install chromium) or the browser test fails"; fi; }

# Rebuild the embedded sample incident from its generator (fixed seed: same bytes every time).
sample: $(STAMP_PY)
	$(BIN)/python -m analysis.synthetic data/sample

# Record the exact versions of every installed package (direct pins live in pyproject.toml);
# --all keeps setuptools, which the wheel test builds with.
lock: $(STAMP_PY)
	$(BIN)/python -m pip freeze --all --exclude-editable --disable-pip-version-check > requirements.lock

# Whether every pinned version has a wheel for each supported Python (pip's resolution; nothing is installed).
check-lock: $(STAMP_PY)
	@for v in $(SUPPORTED); do \
	  $(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
	    --implementation cp --python-version $$v --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	    --platform manylinux2014_x86_64 --platform linux_x86_64 -r requirements.lock -d .lock-check/$$v \
	  && echo "Python $$v: every pinned version has a wheel" || exit 1; done; rm -rf .lock-check

bench: $(STAMP_PY) $(STAMP_NODE)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules reports
