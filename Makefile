# Developer entry points. `make tour` installs the package (runtime dependencies only) and runs
# the short tour on the embedded SQLite default; `make test` installs the dev tools too and runs
# linters, type checks and the whole suite; `make test-lowest` runs the suite again on the lowest
# declared versions of the direct dependencies (CI runs both).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
LOWEST := .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed
# The oldest Python that pyproject.toml admits runs the lowest dependencies, and the newest the
# suite once more, where this machine has them (on PATH or in pyenv; else python3, and the run
# prints which it used).
LOWEST_PYTHON ?= $(or $(shell bash .ci/find_python.sh 3.10),$(PYTHON))
NEWEST_PYTHON ?= $(or $(shell bash .ci/find_python.sh 3.13),$(PYTHON))
NEWEST := .venv-newest
NEWEST_STAMP := $(NEWEST)/.installed
# What an install compiles: editing the C extension reinstalls, which rebuilds it in place.
BUILD_INPUTS := pyproject.toml setup.py src/registry/_speedups.c

.PHONY: tour test test-lowest test-newest lint bench chaos clean

# Two pytest workers, each given whole test files (module-scoped fixtures such as a PostgreSQL
# database stay per file). Most tests wait on subprocesses, servers or PostgreSQL, so two
# workers take ~0.65x the time of one even on 2 cores.
PYTEST_WORKERS := -n 2 --dist loadfile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): $(BUILD_INPUTS) | $(BIN)/python
	bash .ci/compiler.sh $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME_STAMP)

tour: $(RUNTIME_STAMP)
	$(BIN)/python examples/tour.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check setup.py src tests benchmarks examples migrations .ci
	$(BIN)/ruff format --check setup.py src tests benchmarks examples migrations .ci
	$(BIN)/mypy

test: $(DEV_STAMP) lint
	@if [ -f .ci/postgres.sh ]; then bash .ci/postgres.sh; fi
	bash .ci/chromium.sh
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

# pip pins every direct dependency (runtime and the server extra) to its `>=` floor through a
# constraints file derived from pyproject.toml; the test tools resolve freely around those pins.
$(LOWEST_STAMP): $(BUILD_INPUTS) .ci/lowest_constraints.py | $(DEV_STAMP)
	rm -rf $(LOWEST)
	$(LOWEST_PYTHON) -m venv $(LOWEST)
	bash .ci/compiler.sh $(LOWEST)/bin/python
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(BIN)/python .ci/lowest_constraints.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt -e '.[dev]'
	touch $@

# The suite in the venv $(1), after the services it needs, saying which Python runs it.
define suite_in
	@if [ -f .ci/postgres.sh ]; then bash .ci/postgres.sh; fi
	bash .ci/chromium.sh
	@$(1)/bin/python -c 'import sys; print("on Python", sys.version.split()[0])'
	$(1)/bin/python -m pytest -q $(PYTEST_WORKERS)
endef

test-lowest: $(LOWEST_STAMP)
	@echo "lowest declared versions (pinned with pip -c):" && cat $(LOWEST)/constraints.txt
	$(call suite_in,$(LOWEST))

$(NEWEST_STAMP): $(BUILD_INPUTS)
	rm -rf $(NEWEST)
	$(NEWEST_PYTHON) -m venv $(NEWEST)
	bash .ci/compiler.sh $(NEWEST)/bin/python
	$(NEWEST)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

test-newest: $(NEWEST_STAMP)
	$(call suite_in,$(NEWEST))

# The fault suite alone, printing its figures (make test runs it too). docs/reliability.md.
chaos: $(DEV_STAMP)
	@if [ -f .ci/postgres.sh ]; then bash .ci/postgres.sh; fi
	$(BIN)/python -m pytest tests/reliability -s -q

bench: $(DEV_STAMP) lint
	@if [ -f .ci/postgres.sh ]; then bash .ci/postgres.sh; fi
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_factorize.py --write --instructions
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_server.py
	$(BIN)/python benchmarks/bench_ui.py
	$(BIN)/python benchmarks/bench_scaling.py
	$(BIN)/python benchmarks/bench_load.py

clean:
	rm -rf $(VENV) $(LOWEST) $(NEWEST) build dist .mypy_cache .ruff_cache .pytest_cache
