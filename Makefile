# jobline: `make run` starts a server with demo data; `make test` runs every check and test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: run test check browser format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## start jobline on http://127.0.0.1:8000 with its data in ./.jobline
	$(BIN)/jobline serve

check: $(STAMP)  ## formatting, lint, types
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: check browser  ## check + the whole suite (PostgreSQL tests need 127.0.0.1:5432; CI=true makes that a must)
	$(BIN)/pytest

browser:  ## Debian's Chromium for the browser tests (Playwright never downloads a browser here)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)  ## performance numbers (recorded in bench/RESULTS.md)
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.history --jobs 200000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
