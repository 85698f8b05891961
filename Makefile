# corral — `make run` starts the all-in-one cluster, `make test` runs the whole test suite.
# Both set up everything first: a virtualenv in .venv, installed from the lock file.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: install run test lint bench lock clean

# requirements.lock pins what runs on a cluster (corral's dependencies and its role extras);
# requirements-dev.lock adds what tests and checks it, at the same versions. Every pin carries
# its hashes, and pip refuses a file that does not match them.
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock -r requirements-dev.lock
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
	# Type checks over all of src/corral ([tool.mypy]): strict on the model, the core and the
	# agent protocol, the rest free of errors.
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -rs

bench: install
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/latency.py

# Re-pin after changing pyproject.toml's dependencies: pip-compile (from a throwaway venv) keeps
# each pin already in the lock files unless pyproject.toml asks for another; delete a line
# from a lock file to let that package move. The development lock is compiled against the
# runtime one, so both name the same versions; corral itself is installed editable, not pinned.
PIP_COMPILE := .lockenv/bin/pip-compile --quiet --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip pip-tools
	$(PIP_COMPILE) --extra sim --extra postgres --extra mysql \
		--output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --unsafe-package corral --constraint requirements.lock \
		--output-file requirements-dev.lock pyproject.toml
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
