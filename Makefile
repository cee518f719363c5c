# Developer entry points. `make tour` runs the short tour on the embedded SQLite default;
# `make test` installs everything into .venv and runs linters, type checks and the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: tour test lint bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

tour: $(STAMP)
	$(BIN)/python examples/tour.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples migrations
	$(BIN)/ruff format --check src tests benchmarks examples migrations
	$(BIN)/mypy

test: $(STAMP) lint
	@if [ -f .ci/postgres.sh ]; then bash .ci/postgres.sh; fi
	bash .ci/chromium.sh
	$(BIN)/python -m pytest

# The fault suite alone, printing its figures (make test runs it too). docs/reliability.md.
chaos: $(STAMP)
	@if [ -f .ci/postgres.sh ]; then bash .ci/postgres.sh; fi
	$(BIN)/python -m pytest tests/reliability -s -q

bench: $(STAMP) lint
	@if [ -f .ci/postgres.sh ]; then bash .ci/postgres.sh; fi
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_factorize.py --write
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_server.py
	$(BIN)/python benchmarks/bench_ui.py
	$(BIN)/python benchmarks/bench_scaling.py
	$(BIN)/python benchmarks/bench_load.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
