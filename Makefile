# Everything runs inside .venv so a fresh machine needs only python3.11, pip and a compiler.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Exact versions of every dependency, tested together (see its header); CONSTRAINTS= for none.
# PYTEST_ARGS=tests/cli runs part of the suite in make test / make test-latest
CONSTRAINTS ?= requirements/constraints.txt
PIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
# a separate venv for the newest versions the ranges in pyproject.toml allow
LATEST := .venv-latest

.PHONY: install demo test test-latest constraints lint typecheck bench fuzz clean docs docs-screenshot

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q $(PIN) -e .

demo: install
	$(BIN)/badpix demo

# CI runs this one: the pinned set of requirements/constraints.txt
test: $(BIN)/python
	$(BIN)/python -m pip install -q $(PIN) -e ".[test,peer]"
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# the newest releases the ranges allow: finds a dependency release that breaks us before users do
test-latest:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade pip
	$(LATEST)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e ".[test,peer]"
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	diff $(CONSTRAINTS) $(LATEST)/versions.txt | grep '^[<>] [A-Za-z]' || true
	$(LATEST)/bin/ruff check src tests benchmarks
	$(LATEST)/bin/mypy
	$(LATEST)/bin/python -m pytest -q $(PYTEST_ARGS)

# regenerate the pins from a fresh venv with the newest allowed versions; then run make test
constraints:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install -q --upgrade pip
	.venv-constraints/bin/python -m pip install -q -e ".[test,peer]"
	mkdir -p requirements
	{ sed -n '/^#/p' requirements/constraints.txt 2>/dev/null | grep -v '^# generated' ; \
	  echo "# generated $$(date -u +%Y-%m-%d) with $$(.venv-constraints/bin/python --version)"; \
	  .venv-constraints/bin/python -m pip freeze --exclude-editable; } > requirements/constraints.txt.new
	mv requirements/constraints.txt.new requirements/constraints.txt
	rm -rf .venv-constraints

lint: $(BIN)/python
	$(BIN)/ruff check src tests benchmarks

# mypy on the public modules listed in pyproject.toml [tool.mypy] (a few seconds warm)
typecheck: $(BIN)/python
	$(BIN)/python -m pip install -q $(PIN) -e ".[test]"
	$(BIN)/mypy

# BENCH_ARGS=--quick for minutes instead of an hour; dcnum (peer) is the background baseline
bench: $(BIN)/python
	$(BIN)/python -m pip install -q $(PIN) -e ".[test,peer]"
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

# FUZZ_SECONDS per format (default 60): mutated headers through every reader; prints how
# many inputs were tried and the distinct errors seen
FUZZ_SECONDS ?= 60
fuzz: $(BIN)/python
	HOSTILE_FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m pytest -q -s -p no:cacheprovider \
		tests/hostile/test_fuzz.py

clean:
	rm -rf $(VENV) $(LATEST) .venv-constraints build *.egg-info src/*.egg-info .pytest_cache \
	  docs/_build docs/auto_examples
