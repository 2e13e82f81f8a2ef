# steplife's two commands: `make test` and `make demo`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-thorough demo lint types unit bench diagrams docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

## test: lint, format check, strict types and the whole test suite with branch coverage >= 90 %
test: $(STAMP) lint types unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

types: $(STAMP)
	$(BIN)/mypy --strict src tests benchmarks examples

# The tests run in parallel, one worker a core (pytest-xdist). Coverage starts in each
# worker as the interpreter starts (`patch = ["subprocess"]` in pyproject.toml), so it also
# sees the modules steplife's own pytest plugin (the pytest11 entry point) imports while
# pytest starts up; `combine` merges the workers' data.
unit: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -n auto
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --fail-under=90

## test-thorough: every property test at 1,000 examples, and the long searches (not in CI)
test-thorough: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest -n auto

## demo: validate the bundled example captures
demo: $(STAMP)
	@$(BIN)/steplife validate examples/*.sse examples/*.jsonl; status=$$?; echo; \
	if [ $$status -eq 1 ]; then echo "exit status 1: broken.jsonl and broken-runs.jsonl are broken on purpose, as examples/README.md says"; \
	else echo "unexpected exit status $$status"; exit 1; fi

## bench: the benchmarks, written to docs/benchmarks.md
bench: $(STAMP)
	STEPLIFE_BENCH_POSTGRES_DSN="$${STEPLIFE_BENCH_POSTGRES_DSN:-postgresql://postgres@127.0.0.1:5432/test}" \
	$(BIN)/python -m benchmarks.run --write docs/benchmarks.md

## diagrams: regenerate docs/diagrams/ from the machine definitions
diagrams: $(STAMP)
	$(BIN)/steplife diagram step > docs/diagrams/run-step.mmd
	$(BIN)/steplife diagram run > docs/diagrams/run.mmd
	$(BIN)/steplife diagram interlock > docs/diagrams/interlock.mmd
	$(BIN)/steplife diagram response > docs/diagrams/response.mmd
	$(BIN)/steplife diagram item > docs/diagrams/output-item.mmd

## docs: regenerate the sample outputs in docs/cli.md and docs/store.md from the command
docs: $(STAMP)
	$(BIN)/python tests/clidocs.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage
