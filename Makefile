# `make test` builds everything it needs from nothing: a fresh clone with
# Python 3.11+ and make is enough. Every target fails loudly.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install lint format types unit docs test demo bench clean

help:
	@echo "make test   - lint, type-check and run the test suite (sets up .venv)"
	@echo "make demo   - run the quickstart: a B2B lifecycle, end to end"
	@echo "make docs   - build the documentation site into site/ (strict)"
	@echo "make bench  - benchmarks against segment-analytics-python"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "b2b-events needs Python 3.11+: run make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

types: $(STAMP)
	$(BIN)/mypy

# coverage run, not pytest-cov: our pytest plugin (an entry point) imports the
# package before pytest-cov would start measuring.
unit: $(STAMP)
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

# Strict: a warning (a broken link, a docstring mkdocstrings cannot read) fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint types unit docs

demo: $(STAMP)
	$(BIN)/python -m b2b_events demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage
