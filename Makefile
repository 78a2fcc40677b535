# Developer shortcuts; CI runs the same checks through .ci/run in a fresh virtual environment.
# Install first: pip install torch==2.13.0 && pip install -e ".[dev]"
PYTHON ?= python

.PHONY: help lint format typecheck test test-fast ci

help:
	@echo "make lint       ruff check + ruff format --check + mypy (what CI runs)"
	@echo "make format     ruff format + ruff check --fix (rewrites files)"
	@echo "make typecheck  mypy on tsmamba/ and kernels/"
	@echo "make test       every test, slow ones included (as CI)"
	@echo "make test-fast  pytest -m 'not slow' (under a minute on a 2-core CPU)"
	@echo "make ci         .ci/run: fresh venv, README install, demo, lint, all tests, sm_90 layout tests under Triton 3.6"

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

format:
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

typecheck:
	$(PYTHON) -m mypy

test:
	$(PYTHON) -m pytest

test-fast:
	$(PYTHON) -m pytest -m "not slow"

ci:
	bash .ci/run
