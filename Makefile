# corral — `make run` starts the all-in-one cluster, `make test` runs the whole test suite.
# Both set up everything first: a virtualenv in .venv, installed from the lock file.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: install run test lint bench lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	# The commands start in loops; precompiled bytecode keeps them fast even where
	# PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q src $(VENV)/lib >/dev/null
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/corral up $(ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -rs

bench: install
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/latency.py

# Re-pin every dependency after changing pyproject.toml.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip
	.lockenv/bin/pip install --quiet -e '.[dev,tools]'
	.lockenv/bin/pip freeze --exclude-editable | grep -vi '^corral' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
