# `make run` and `make test` work on a fresh machine: they create .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps: `make run` installs paperbot alone; the test tools come with `make test`.
RUN_STAMP := $(VENV)/.installed-run
STAMP  := $(VENV)/.installed-dev

.PHONY: run test lint types unit full soak bench clean

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

paperbot.toml .env: | $(RUN_STAMP)
	$(BIN)/paperbot init .

run: $(RUN_STAMP) paperbot.toml .env
	$(BIN)/paperbot run

lint: $(STAMP)
	$(BIN)/ruff check bot storage tests bench
	$(BIN)/ruff format --check bot storage tests bench

types: $(STAMP)
	$(BIN)/mypy

# The SIGKILL crash soak (tests/test_crash.py) runs 5 rounds here and 200 in `make soak`.
unit: $(STAMP)
	PAPERBOT_SOAK_ROUNDS=5 $(BIN)/pytest -q -n 2 --dist worksteal -m "not slow"

# Every test, including what `make test` leaves out (whole-process scenarios and exhaustive
# fault tables, marked `slow`), with property tests at full size. CI runs it after `make test`.
full: $(STAMP)
	PAPERBOT_HYPOTHESIS=thorough PAPERBOT_SOAK_ROUNDS=5 $(BIN)/pytest -q -n 2 --dist worksteal

soak: $(STAMP)
	PAPERBOT_SOAK_ROUNDS=$${PAPERBOT_SOAK_ROUNDS:-200} $(BIN)/pytest -q tests/test_crash.py

test: lint types unit

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
