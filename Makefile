# Set-up and everyday tasks. `make site` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install site test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Runs what is due in the local profile (its targets live in the ignored .runbook/work),
# then builds the site into site/; a notebook that fails is shown failed on its page and
# named at the end, and the build still succeeds (CI gates with --fail-on-failed-runs).
site: install
	$(BIN)/runbook build --strict --execute --yes --env local

# Type-checks the package (mypy --strict, settings in pyproject.toml), then runs the suite.
test: install
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

# The references some groups measure against (mkdocs-jupyter) come with the bench extra.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf site .runbook bench/.work
