# Portrait: `make demo` runs the main job on a simulated shop, `make test` runs the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# `make test` runs the PySpark parity tests too, so every target installs the spark extra
EXTRAS := dev,spark
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test bench lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/portrait demo demo-workspace

# one worker per core (at most 4; each builds its own session shops), a module's tests on one
# worker (tests/conftest.py groups and orders them). pytest's exit code 5 (no test ran) fails the target.
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --maxprocesses 4 --dist loadgroup --no-loadscope-reorder

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache .ruff_cache
