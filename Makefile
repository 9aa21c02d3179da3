# The two set-up commands from the README: `make demo` and `make test`.
# Both install what they need (a tools venv with nox+uv, cached under ~/.cache/slurm-client).
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/slurm-client
TOOLS := $(CACHE)/tools
PY ?= python3

.PHONY: demo test lint typecheck unit bench clusters-up clusters-down clean

$(TOOLS)/.ready: pyproject.toml
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --disable-pip-version-check nox uv
	$(TOOLS)/bin/uv pip install -q --python $(TOOLS)/bin/python -e .
	touch $@

## demo: start a real local cluster, run the demo pipeline on it, stop the cluster
demo: $(TOOLS)/.ready
	$(TOOLS)/bin/nox -s demo

## test: every test (lint, types, unit, integration on real clusters of all three releases)
test: $(TOOLS)/.ready
	scripts/test.sh

lint typecheck unit: $(TOOLS)/.ready
	$(TOOLS)/bin/nox -s $@

bench: $(TOOLS)/.ready
	$(TOOLS)/bin/nox -s bench

clusters-up: $(TOOLS)/.ready
	$(TOOLS)/bin/python -m slurm_core.testing.cluster up --release all

clusters-down: $(TOOLS)/.ready
	$(TOOLS)/bin/python -m slurm_core.testing.cluster down --release all

clean:
	rm -rf .nox .mypy_cache .ruff_cache .pytest_cache
