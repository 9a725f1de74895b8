# Every target creates and uses its own virtual environment; nothing needs to be installed by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest docs demo bench mutate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## test: ruff, mypy --strict and the whole pytest suite (what CI runs)
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Branch coverage of the library, child processes included; the floor is in pyproject.toml.
pytest: $(STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)

## docs: the documentation site in docs/_build/html (Sphinx + furo + MyST), warnings as errors
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

## demo: the main job, a fan-out and watch against the simulator, on the command line's displays
demo: $(STAMP)
	$(BIN)/python -m esper_cmds demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

## mutate: mutation testing of reconciliation, the journal and the retry table (slow; not in CI)
mutate: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) docs/_build .mypy_cache .ruff_cache .pytest_cache .coverage* htmlcov mutants
