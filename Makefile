# mailroom — every target installs what it needs (make setup is idempotent).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE ?= tests/fixtures/scanner_mail.eml

.PHONY: setup run test check lint types bench corpus clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH" >&2; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/mailroom parse $(SAMPLE)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: setup
	$(BIN)/mypy

check: lint types test

bench: setup
	$(BIN)/python bench/run.py

corpus: setup
	$(BIN)/python ../shared/tools/corpus_score.py --batch-cmd '$(CURDIR)/$(BIN)/mailroom parse --jsonl {files}'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
