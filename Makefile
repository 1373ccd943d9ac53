# One entry point for everything: each target installs what it needs itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit demo clean bench bench-quick bench-tools system-tools

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

unit: $(STAMP) system-tools
	$(BIN)/pytest

system-tools:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi


## make bench: W1-W7 against curl and aria2c on a private nginx; writes bench/results/<date>.md
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_TOOLS := nginx:nginx curl:curl aria2c:aria2 /usr/bin/time:time openssl:openssl

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

bench: bench-tools $(BENCH_STAMP)
	$(BIN)/python -m bench

## make bench-quick: small sizes, one run each, for development (bench/work/quick.md)
bench-quick: bench-tools $(BENCH_STAMP)
	$(BIN)/python -m bench --quick

## make demo: the service on the built-in emulator (SQLite, sample watchlist, live display)
demo: $(STAMP)
	$(BIN)/downloader demo --target demo-archive

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo-archive
