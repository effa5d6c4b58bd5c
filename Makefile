# Everything runs inside .venv so a fresh machine needs only python3.11, pip and a compiler.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint typecheck bench clean docs docs-screenshot

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

demo: install
	$(BIN)/badpix demo

test: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,peer]"
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(BIN)/python
	$(BIN)/ruff check src tests benchmarks

# mypy on the public modules listed in pyproject.toml [tool.mypy] (a few seconds warm)
typecheck: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/mypy

# BENCH_ARGS=--quick for minutes instead of an hour; dcnum (peer) is the background baseline
bench: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,peer]"
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

# the docs site, warnings as errors; output in docs/_build/html (not committed)
docs: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[docs]"
	$(BIN)/python -m sphinx -b html -W --keep-going docs docs/_build/html
	@echo "open docs/_build/html/index.html"

# screenshots of the built index, the gallery and one example page (needs chromium: apt-get install chromium)
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || command -v google-chrome)
SHOTS := docs/_build/screenshots
docs-screenshot:
	@test -f docs/_build/html/index.html || { echo "run make docs first"; exit 1; }
	@test -n "$(CHROMIUM)" || { echo "need chromium (apt-get install chromium) or CHROMIUM=..."; exit 1; }
	mkdir -p $(SHOTS)
	for page in index auto_examples/index auto_examples/plot_repair_before_after; do \
	  profile=$$(mktemp -d); \
	  $(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-background-networking \
	    --disable-component-update --disable-sync --no-first-run --user-data-dir=$$profile \
	    --window-size=1400,1800 --virtual-time-budget=5000 --screenshot=$(SHOTS)/$$(echo $$page | tr / -).png \
	    file://$(CURDIR)/docs/_build/html/$$page.html; \
	  rm -rf $$profile; \
	done
	@ls -l $(SHOTS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache docs/_build docs/auto_examples
