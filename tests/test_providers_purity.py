"""The providers' pure cores load no I/O library, even through the package `__init__`."""

from __future__ import annotations

import ast
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
    "downloader.providers._steps",
    "downloader.providers._pixxel_steps",
    "downloader.providers._pixxel_catalog_steps",
    "downloader.providers._scale_steps",
    "downloader.providers._alteryx_steps",
    "downloader.providers._http_steps",
    "downloader.providers._turn",
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
    assert {"anyio", "structlog"} <= loaded("downloader.providers._registry")
    assert "aiohttp" in loaded("downloader.emulator._pixxel")


def test_the_registry_leaves_aiohttp_for_the_first_api_call():
    assert "aiohttp" not in loaded("downloader.providers._registry")


def test_the_package_still_offers_the_registry():
    import downloader.providers as providers

    assert callable(providers.build_providers)
    assert providers.API_CONCURRENCY == 4
    assert providers.MAX_BODY == 8 * 1024 * 1024
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = providers.nope


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at its top or in a block (TYPE_CHECKING too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_no_provider_module_imports_the_runners():
    # the runners lend the providers their shell (`Drive`); the other way round
    # would make the two packages a cycle
    offenders = {
        path.name: sorted(m for m in imported_modules(path) if m.startswith("downloader.runners"))
        for path in sorted((ROOT / "downloader" / "providers").glob("*.py"))
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}
