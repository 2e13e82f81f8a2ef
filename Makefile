# steplife's two commands: `make test` and `make demo`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint types unit bench diagrams clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

## test: lint, format check, strict types and the whole test suite with branch coverage
test: $(STAMP) lint types unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

types: $(STAMP)
	$(BIN)/mypy --strict src tests

unit: $(STAMP)
	$(BIN)/pytest --cov --cov-branch --cov-report=term --cov-fail-under=90

## demo: validate the bundled example captures
demo: $(STAMP)
	-$(BIN)/steplife validate examples/*.sse examples/*.jsonl
	@echo
	@echo "(broken.jsonl is broken on purpose: exit status 1 above is the expected verdict)"

## bench: the benchmarks, written to docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --write docs/benchmarks.md

## diagrams: regenerate docs/diagrams/ from the machine definition
diagrams: $(STAMP)
	$(BIN)/steplife diagram > docs/diagrams/run-step.mmd

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage
