# Set-up and everyday tasks. `make site` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install site test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The engine extras too, so the tests build the site with MkDocs, ProperDocs and Zensical.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,properdocs,zensical]'
	touch $(STAMP)

install: $(STAMP)

# Runs what is due in the local profile (its targets live in the ignored .runbook/work),
# then builds the site into site/; a notebook that fails is shown failed on its page and
# named at the end, and the build still succeeds (CI gates with --fail-on-failed-runs).
# The demo service the local profile checks (demo/) runs meanwhile; --stop-with ends it
# with make itself, so it is never left running even when the build fails.
# `make site ENGINE=zensical` (or properdocs) builds with another engine (README: Engines).
ENGINE ?= mkdocs
site: install
	$(BIN)/python demo/serve start --stop-with $$PPID
	$(BIN)/runbook build --strict --execute --yes --env local --engine $(ENGINE)
	$(BIN)/python demo/serve stop

# Type-checks the package (mypy --strict, settings in pyproject.toml), then runs the suite.
test: install
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

# The references some groups measure against (mkdocs-jupyter) come with the bench extra.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py

clean:
	-$(BIN)/python demo/serve stop
	rm -rf site .runbook bench/.work
