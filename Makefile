# mailroom — every target installs what it needs (make setup is idempotent).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE ?= tests/fixtures/scanner_mail.eml
DOMAIN ?= in.mailroom.localhost
MAILBOX ?= scans@$(DOMAIN)=demo

.PHONY: setup run demo parse test browser check lint types bench corpus clean tools template-check sam-build operator-check

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH" >&2; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# mailroom locally: moto + SMTP on loopback, the real template/ASL/handlers; one demo mailbox. Ctrl-C stops.
run: setup
	$(BIN)/mailroom local up --domain $(DOMAIN) --mailbox $(MAILBOX)

# A private stack on free ports, six sample emails, each outcome checked (exit 0 only if all as expected).
demo: setup
	$(BIN)/mailroom local demo

parse: setup
	$(BIN)/mailroom parse $(SAMPLE)

test: setup browser
	$(BIN)/python -m pytest -q

# The console's browser tests drive the system's chromium through Playwright (whose own browser download
# cannot work offline): installed with apt-get when missing (as root, or through sudo).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt=apt-get; elif command -v sudo >/dev/null; then apt="sudo apt-get"; \
	  else echo "the browser tests need chromium: apt-get install chromium" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive $$apt install -y -q chromium >/dev/null || \
	  { $$apt update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$apt install -y -q chromium >/dev/null; }; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: setup
	$(BIN)/mypy

check: lint types test template-check operator-check

# The operator CLI in a fresh venv without the local extra: starts, has no moto, reads a deployed stack.
operator-check: setup
	bash tools/check_operator_install.sh

bench: setup
	$(BIN)/python bench/run.py

corpus: setup
	$(BIN)/python ../shared/tools/corpus_score.py --batch-cmd '$(CURDIR)/$(BIN)/mailroom parse --jsonl {files}'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Infrastructure tools, each in its own python3.11 venv outside .venv: checkov downgrades boto3 and
# packaging (breaking pytest), aws-sam-cli pins boto3 exactly. Pinned so a new release adds no check
# overnight; a version bump changes the stamp name and so reinstalls.
TOOLS_PY ?= python3.11
TOOLS := .venv-tools
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
SAM_STAMP := $(TOOLS)/sam/.installed-$(SAM_CLI_VERSION)
CHECKOV_STAMP := $(TOOLS)/checkov/.installed-$(CHECKOV_VERSION)
SAM_PYENV ?= 3.11.7:3.13.0

$(SAM_STAMP):
	@command -v $(TOOLS_PY) >/dev/null || { echo "need $(TOOLS_PY) on PATH" >&2; exit 1; }
	@test -x $(TOOLS)/sam/bin/python || $(TOOLS_PY) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/sam/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_CLI_VERSION)'
	@rm -f $(TOOLS)/sam/.installed-* && touch $@

$(CHECKOV_STAMP):
	@command -v $(TOOLS_PY) >/dev/null || { echo "need $(TOOLS_PY) on PATH" >&2; exit 1; }
	@test -x $(TOOLS)/checkov/bin/python || $(TOOLS_PY) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/checkov/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@rm -f $(TOOLS)/checkov/.installed-* && touch $@

tools: $(SAM_STAMP) $(CHECKOV_STAMP)

# cfn-lint (raw and SAM-translated), checkov (both), sam validate --lint: offline, no AWS account.
template-check: setup tools
	bash tools/infra_check.sh

# Builds into .aws-sam/build; python3.13 must be on PATH for the python3.13 runtime (pyenv).
sam-build: tools
	PYENV_VERSION=$(SAM_PYENV) bash tools/sam_build.sh

# Everything in docs/benchmarks.md: decrypt, parse, e2e with 200 and 1,000 emails, the cost model, and
# cold start (handler import times; package sizes from a fresh sam build). About 40 min on 2 cores.
.PHONY: bench-full
bench-full: setup sam-build
	$(BIN)/python bench/run.py --e2e 200,1000 --coldstart

# The reliability suite at full size (docs/reliability.md): the fault matrix, at-least-once inputs,
# poison messages, and a Starter outage with 1,000 emails queued. About 20 min on 2 cores;
# `make test` runs the same suite with 60 emails in the outage.
.PHONY: reliability
reliability: setup
	MAILROOM_OUTAGE_EMAILS=1000 $(BIN)/python -m pytest tests/reliability -q

# The security evidence at full size (docs/reliability-input-and-attacks.md): 14,000 fuzz examples (10,500 of
# them messages), the bombs at full size, the attacks on moto and through the local stack, the template's
# security rules. `make test` (CI) runs the same suites at their default, smaller size.
SECURITY_REPORT ?= .pytest_cache/security-report.json
.PHONY: security
security: setup
	MAILROOM_FUZZ_EXAMPLES=14000 MAILROOM_SECURITY_FULL=1 MAILROOM_SECURITY_REPORT=$(SECURITY_REPORT) \
		$(BIN)/python -m pytest tests/security -q
