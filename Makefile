# openrl — run `make help` for the targets. Everything installs itself into .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.openrl-installed
ARGS ?=

.PHONY: help install train test test-all lint format bench docs clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv and install openrl + dev tools at the locked versions (idempotent)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

train: install  ## run openrl-train with its default config (extra Hydra overrides: make train ARGS="env=asterix")
	$(VENV)/bin/openrl-train $(ARGS)

test: install  ## fast test suite (no slow tests)
	$(PY) -m pytest -m "not slow" -q -p no:cacheprovider $(ARGS)

test-all: install  ## every test, including slow ones
	$(PY) -m pytest -q -p no:cacheprovider $(ARGS)

lint: install  ## ruff lint + format check
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: install  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

bench: install  ## throughput benchmarks -> outputs/benchmarks/*.json (ARGS go to ppo_throughput; --publish: benchmarks/results/)
	$(PY) -m benchmarks.ppo_throughput $(ARGS)
	$(PY) -m benchmarks.open_floor

docs: install  ## regenerate the result tables in README.md and docs/ from benchmarks/results/*.json
	$(PY) -m benchmarks.doc_numbers

clean:  ## remove run outputs and caches (keeps .venv)
	rm -rf outputs multirun .pytest_cache .ruff_cache build dist
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -exec rm -rf {} +
