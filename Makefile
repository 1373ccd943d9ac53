# One entry point for everything: each target installs what it needs itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit demo clean bench-engine system-tools postgresql chaos

# System tools the tests call: systemd-analyze (unit checks), setpriv and unshare
# (the units' sandbox).  Installed from Debian's packages when missing.
SYSTEM_TOOLS := systemd-analyze:systemd setpriv:util-linux unshare:util-linux

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: lint, type-check and run the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) system-tools postgresql
	$(BIN)/pytest

system-tools:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## make postgresql: the PostgreSQL server the tests start on loopback (Debian's package),
## installed only when missing; the tests run their own throwaway server, never this one's
postgresql:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; \
	then :; else \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; \
	fi

## make bench-engine: one 2 GiB generated file, segmented, vs curl (wall time, peak RSS)
bench-engine: $(STAMP)
	$(BIN)/python -m bench.engine_2gib 2GiB

## make chaos: 50 SIGKILLs of a ~2 GB multi-platform run with faults on; a report at the end
chaos: $(STAMP)
	$(BIN)/python -m tests.support.chaos --kills 50 --size 2GiB

## make demo: the service on the built-in emulator (SQLite, sample watchlist, live display)
demo: $(STAMP)
	$(BIN)/downloader demo --target demo-archive

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo-archive
