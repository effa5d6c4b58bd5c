# Everything runs inside .venv so a fresh machine needs only python3.11, pip and a compiler.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench fuzz clean

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
	$(BIN)/python -m pytest -q

lint: $(BIN)/python
	$(BIN)/ruff check src tests benchmarks

# BENCH_ARGS=--quick for minutes instead of an hour; dcnum (peer) is the background baseline
bench: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,peer]"
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

# FUZZ_SECONDS per format (default 60): mutated headers through every reader; prints how
# many inputs were tried and the distinct errors seen
FUZZ_SECONDS ?= 60
fuzz: $(BIN)/python
	HOSTILE_FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m pytest -q -s -p no:cacheprovider \
		tests/hostile/test_fuzz.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
