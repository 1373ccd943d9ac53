# One entry point for everything: each target installs what it needs itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit demo clean bench bench-quick bench-tools bench-scaleout system-tools postgresql chaos

# System tools the tests call: systemd-analyze (unit checks), setpriv and unshare
# (the units' sandbox).  Installed from Debian's packages when missing.
SYSTEM_TOOLS := systemd-analyze:systemd setpriv:util-linux unshare:util-linux

# The demo needs the program and its libraries only; the tests also need the dev tools.
RUNTIME_STAMP := $(VENV)/.runtime-installed

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUNTIME_STAMP)

## make test: lint, type-check and run the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The tests spend most of their time waiting (subprocesses, servers, timeouts), so more
# workers than cores pay.  The tests marked slow come first (tests/conftest.py) and
# --dist load deals them out one to a worker, so no long test starts last and ends the
# run alone.  TEST_WORKERS=0: all in one process.
TEST_WORKERS ?= 4

unit: $(STAMP) system-tools postgresql
	$(BIN)/pytest -n $(TEST_WORKERS) --dist load

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

## make bench: W1-W9 (W1 and W2 over HTTPS too) against curl and aria2c on a private nginx;
## writes bench/results/<date>.md
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_TOOLS := nginx:nginx curl:curl aria2c:aria2 /usr/bin/time:time openssl:openssl strace:strace

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench-tools:
	@missing=""; for pair in $(BENCH_TOOLS); do \
		tool=$${pair%%:*}; package=$${pair#*:}; \
		command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# the package's bytecode compiled first, as an installed package has it (a process that
# compiles ~150 modules at start-up pays 150-250 ms of CPU that no user pays)
bench: bench-tools $(BENCH_STAMP)
	$(BIN)/python -m compileall -q downloader
	$(BIN)/python -m bench

## make bench-quick: small sizes, one run each, for development (bench/work/quick.md)
bench-quick: bench-tools $(BENCH_STAMP)
	$(BIN)/python -m compileall -q downloader
	$(BIN)/python -m bench --quick

## make bench-scaleout: 1, 2 and 3 daemons sharing one PostgreSQL database, each host's
## link modelled by transfer.bandwidth_limit; writes bench/results/<date>-scaleout.md
bench-scaleout: bench-tools postgresql $(BENCH_STAMP)
	$(BIN)/python -m bench.scaleout

## make chaos: 50 SIGKILLs of a ~2 GB multi-platform run with faults on; a report at the end
chaos: $(STAMP)
	$(BIN)/python -m tests.support.chaos --kills 50 --size 2GiB

## make demo: the service on the built-in emulator (SQLite, sample watchlist, live display);
## make demo SCENARIO=downloader/emulator/scenarios/platforms.toml serves another scenario
demo: $(RUNTIME_STAMP)
	$(BIN)/downloader demo --target demo-archive $(if $(SCENARIO),--scenario $(SCENARIO))

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo-archive
