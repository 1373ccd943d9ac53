"""The providers' pure cores load no I/O library, even through the package `__init__`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = [
    "downloader.providers._answers",
    "downloader.providers._parse_common",
    "downloader.providers._parse_pixxel",
    "downloader.providers._parse_scale",
    "downloader.providers._parse_scene",
    "downloader.providers._parse_alteryx",
    "downloader.providers._schedule",
    "downloader.providers._types",
]
IO_LIBRARIES = ["aiohttp", "anyio", "asyncio", "sqlite3", "structlog"]
PROBE = (
    "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
    "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))"
)


def loaded(module: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("module", PURE)
def test_a_pure_provider_module_loads_no_io_library(module):
    assert loaded(module) & set(IO_LIBRARIES) == set()


def test_the_probe_sees_what_the_registry_loads():
    assert {"aiohttp", "anyio", "structlog"} <= loaded("downloader.providers._registry")


def test_the_package_still_offers_the_registry():
    import downloader.providers as providers

    assert callable(providers.build_providers)
    assert providers.API_CONCURRENCY == 4
    assert providers.MAX_BODY == 8 * 1024 * 1024
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = providers.nope
