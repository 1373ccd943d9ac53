"""The pure cores stay pure: no network, event loop, database or file I/O behind their imports.

Reading a module's own import lines is not enough, because a package `__init__` or a
dependency can drag an I/O library in behind it.  So each module is imported alone in a
fresh interpreter, which reports everything that ended up in `sys.modules` and which
module asked for each forbidden one.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

PURE = [
    "downloader.transfer._plan",
    "downloader.transfer._backoff",
    "downloader.transfer._names",
    "downloader.transfer._digests",
    "downloader.transfer._hashers",
    "downloader.transfer._urls",
    "downloader.transfer._head",
    "downloader.transfer._chunks",
    "downloader.transfer._events",
    "downloader.transfer._life",
    "downloader.transfer._course",
    "downloader.transfer._policy",
    "downloader.transfer._answers",
    "downloader.transfer._repair",
    "downloader.items",
    "downloader.errors",
    "downloader.redact",
    "downloader.config._units",
    "downloader.observe",
    "downloader.runners._retry",
    "downloader.hooks._plan",
    "downloader.runners._hook_status",
]

IO_LIBRARIES = frozenset({"aiohttp", "anyio", "asyncio", "sqlite3", "aiofiles"})
FORBIDDEN = IO_LIBRARIES | {"socket"}

# The standard library's `email.utils` imports `socket` at load time (for `make_msgid`).
# `parsedate_to_datetime` lives there, so these modules load `socket` without any
# project code asking (`crc32c`, which reaches it through `importlib.metadata`, is
# loaded only when a crc32c digest is asked for).
SOCKET_VIA_EMAIL_UTILS = frozenset(
    {
        "downloader.transfer._plan",
        "downloader.transfer._backoff",
        "downloader.transfer._repair",
        "downloader.transfer._events",
        "downloader.transfer._life",
        "downloader.transfer._course",
    }
)
# Importing `downloader.config._units` first runs `downloader/config/__init__.py`, which
# imports the whole config loader, including `_schema` (`import socket`) and the file
# readers `_load` and `_secrets`.
BEHIND_THE_CONFIG_PACKAGE = frozenset(
    {
        "downloader.config._units",
        "downloader.runners._retry",
        "downloader.hooks._plan",
        "downloader.runners._hook_status",
    }
)

# Package `__init__` modules a pure module may run on its way in: both are light.
PACKAGES = frozenset({"downloader", "downloader.transfer"})

PROBE = """
import builtins, importlib, json, sys

forbidden = set(json.loads(sys.argv[2]))
asked = {}
real_import = builtins.__import__

def tracing_import(name, globals=None, locals=None, fromlist=(), level=0):
    top = name.partition(".")[0]
    if level == 0 and top in forbidden:
        asked.setdefault(top, set()).add((globals or {}).get("__name__", "?"))
    return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = tracing_import
importlib.import_module(sys.argv[1])
builtins.__import__ = real_import
print(json.dumps({
    "modules": sorted(sys.modules),
    "asked": {top: sorted(who) for top, who in asked.items()},
}))
"""

CONTROL = "downloader.transfer._engine"
SERVER = "downloader.emulator._files"
"""Imports aiohttp at its top: the engine loads it only for its first proxied body."""


@cache
def probe_all() -> dict[str, dict[str, Any]]:
    """Import each module alone in its own interpreter, all at once; their reports by name."""
    names = ["downloader", CONTROL, SERVER, *PURE]
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", PROBE, name, json.dumps(sorted(FORBIDDEN))],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }
    reports = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, f"importing {name} failed:\n{err}"
        reports[name] = json.loads(out)
    return reports


def loaded(module: str, among: frozenset[str]) -> set[str]:
    """Which of `among` (top-level names) importing `module` alone put in `sys.modules`."""
    return {name for name in probe_all()[module]["modules"] if name.partition(".")[0] in among}


def project_modules(module: str) -> set[str]:
    modules: list[str] = probe_all()[module]["modules"]
    return {name for name in modules if name.partition(".")[0] == "downloader"}


# --- the probe itself ---------------------------------------------------------------------------


def test_the_root_package_loads_nothing_forbidden() -> None:
    # Also shows that the interpreter and the editable install start without them.
    assert loaded("downloader", FORBIDDEN) == set()


def test_the_probe_sees_the_io_libraries_of_the_engine() -> None:
    assert {"anyio", "asyncio", "socket"} <= {
        name.partition(".")[0] for name in loaded(CONTROL, FORBIDDEN)
    }
    assert {"aiohttp", "asyncio", "socket"} <= {
        name.partition(".")[0] for name in loaded(SERVER, FORBIDDEN)
    }
    assert SERVER in probe_all()[SERVER]["asked"]["aiohttp"]


def test_the_engine_leaves_aiohttp_for_its_first_proxied_body() -> None:
    assert "aiohttp" not in {name.partition(".")[0] for name in loaded(CONTROL, FORBIDDEN)}


# --- imports ------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_loads_no_io_library(module: str) -> None:
    assert loaded(module, IO_LIBRARIES) == set()


@pytest.mark.parametrize(
    "module", [m for m in PURE if m not in SOCKET_VIA_EMAIL_UTILS | BEHIND_THE_CONFIG_PACKAGE]
)
def test_a_pure_module_loads_no_socket_either(module: str) -> None:
    assert loaded(module, FORBIDDEN) == set()


@pytest.mark.parametrize("module", sorted(SOCKET_VIA_EMAIL_UTILS))
def test_socket_reaches_these_modules_only_through_the_standard_library(module: str) -> None:
    report = probe_all()[module]
    assert loaded(module, FORBIDDEN) == {"socket"}
    assert report["asked"]["socket"] == ["email.utils"]


@pytest.mark.parametrize("module", [m for m in PURE if m not in BEHIND_THE_CONFIG_PACKAGE])
def test_no_project_module_behind_a_pure_one_asks_for_a_forbidden_module(module: str) -> None:
    asked: dict[str, list[str]] = probe_all()[module]["asked"]
    askers = {who for who_list in asked.values() for who in who_list}
    assert {who for who in askers if who.partition(".")[0] == "downloader"} == set()


@pytest.mark.parametrize("module", [m for m in PURE if m not in BEHIND_THE_CONFIG_PACKAGE])
def test_a_pure_module_pulls_in_only_pure_modules_of_the_project(module: str) -> None:
    assert project_modules(module) <= set(PURE) | PACKAGES


def test_the_transfer_package_does_not_load_the_engine_for_a_pure_submodule() -> None:
    modules = project_modules("downloader.transfer._plan")
    assert "downloader.transfer" in modules  # its __init__ did run ...
    assert CONTROL not in modules  # ... and left the engine for later


# --- no file I/O in the source ------------------------------------------------------------------

FILE_METHODS = frozenset({"open", "read_text", "read_bytes", "write_text", "write_bytes"})
IO_IMPORTS = FORBIDDEN | {"os", "io", "shutil", "tempfile"}


def source_of(module: str) -> ast.Module:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    return ast.parse(path.read_text(), filename=str(path))


def file_calls(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "open":
            found.append(f"line {node.lineno}: open(...)")
        elif isinstance(node.func, ast.Attribute) and node.func.attr in FILE_METHODS:
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return found


def io_imports(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "pathlib":
                names += [alias.name for alias in node.names if alias.name == "Path"]
        else:
            continue
        found += [
            f"line {node.lineno}: {name}"
            for name in names
            if name.partition(".")[0] in IO_IMPORTS or name == "Path"
        ]
    return found


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_calls_no_file_function(module: str) -> None:
    assert file_calls(source_of(module)) == []


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_imports_no_io_module_itself(module: str) -> None:
    assert io_imports(source_of(module)) == []


def test_the_source_checks_recognise_file_io() -> None:
    tree = ast.parse(
        "import os\nfrom pathlib import Path\n"
        "open('a')\nos.open('b', 0)\nPath('c').read_text()\nPath('d').write_bytes(b'')\n"
    )
    assert len(file_calls(tree)) == 4
    assert io_imports(tree) == ["line 1: os", "line 2: Path"]
