# Two commands on a fresh machine: `make repro` (the pipeline) and `make test` (the suite).
# Each creates .venv when it is missing and installs the project into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: repro test lint bench clean-venv

# `make repro` installs the package alone; `make test` adds the dev extras (pytest, ruff, and
# the onnx/server extras its tests use), which take minutes more to install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

# Stage commands call `python`: put the venv first on PATH so they get this project's Python.
repro: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

test: $(DEV_STAMP)
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check src stages tests bench

clean-venv:
	rm -rf $(VENV)
