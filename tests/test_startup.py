"""What `downloader once` loads and does before its first request.

Each probe runs in a fresh interpreter, so what it finds in `sys.modules` is what the
command itself imported: the start-up cost is held by what is loaded, not by a clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = [
    "psycopg",
    "pystac",
    "prometheus_client",
    "rich",
    "jsonschema",
    "crc32c",
    "importlib.metadata",
    "downloader.emulator",
    "downloader.metrics",
    "downloader.store._postgres",
    "downloader.providers._pixxel",
    "downloader.providers._scale",
    "downloader.providers._alteryx",
    "downloader.providers._sources",
    "downloader.providers._parse_pixxel",
    "downloader.hooks._deliver",
]
"""Not needed by `once` on plain URLs with SQLite before its first request."""

COUNT_CA_LOADS = """
loads = []
plain = ssl.SSLContext.set_default_verify_paths

def counted(self):
    loads.append(1)
    return plain(self)

ssl.SSLContext.set_default_verify_paths = counted
"""
"""Counts each load of the system CAs from here on (in `loads`)."""

PROBE = (
    """
import json, ssl, sys
import anyio
import aiohttp  # builds aiohttp's own default contexts; only ours are counted below
from downloader.cli import build_parser
from downloader.config import load_config
from downloader.logs import configure_logging
from downloader.runners._compose import open_service

args = build_parser().parse_args(["once", "-c", CONFIG])
configure_logging(level="info")  # as `main` does before it runs a command
settings = load_config(args.config)
"""
    + COUNT_CA_LOADS
    + """
async def compose():
    async with open_service(settings, "probe:once") as service:
        await service.store.list_items()

anyio.run(compose)
print(json.dumps({"loaded": sorted(set(HEAVY) & set(sys.modules)), "ca_loads": len(loads)}))
"""
)


def probe(tmp_path: Path, extra: str = "") -> dict[str, object]:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n{extra}'
    )
    (tmp_path / "watchlist.toml").write_text(
        '[[http.file]]\nid = "one"\nurl = "http://127.0.0.1:9/one.bin"\n'
    )
    code = f"CONFIG = {str(config)!r}\nHEAVY = {HEAVY!r}\n{PROBE}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


def test_once_on_plain_urls_with_sqlite_loads_no_heavy_optional_part(tmp_path: Path) -> None:
    assert probe(tmp_path)["loaded"] == []


def test_a_platform_configured_is_the_only_adapter_loaded(tmp_path: Path) -> None:
    extra = '[providers.scale]\nbase_url = "http://127.0.0.1:9/scale"\n'
    loaded = probe(tmp_path, extra)["loaded"]
    assert loaded == ["downloader.providers._scale"]


def test_composing_a_service_without_a_private_ca_loads_no_system_certificates(
    tmp_path: Path,
) -> None:
    # aiohttp's verifying context serves the API calls; the engine makes its own only
    # when a first https body asks for it (loading the system CAs takes tens of ms)
    assert probe(tmp_path)["ca_loads"] == 0


def test_a_private_ca_is_loaded_once_with_the_system_certificates(tmp_path: Path) -> None:
    import trustme

    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    assert probe(tmp_path, f'[transfer]\nca_file = "{ca_file}"\n')["ca_loads"] == 1


FIRST_REQUEST_PROBE = (
    """
import json, runpy, ssl, sys

found = {}
"""
    + COUNT_CA_LOADS
    + """
def first_connect(event, args):
    if event == "sqlite3.connect" and "store" not in found:
        import threading
        found["store"] = {
            "thread": threading.current_thread().name.split(" ")[0],
            # a module is in sys.modules while it is imported: done once it has run
            "runners_loaded": hasattr(sys.modules.get("downloader.runners._compose"), "run_once"),
        }
    if event == "socket.connect" and "aiohttp" not in found and tuple(args[1])[:2] == SERVER:
        found["aiohttp"] = sorted(m for m in sys.modules if m.split(".")[0] == "aiohttp")
        found["ca_loads"] = len(loads)

sys.addaudithook(first_connect)
sys.argv = ["downloader", "once", "-c", CONFIG]
try:
    runpy.run_module("downloader", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    found["exit"] = exc.code
print(json.dumps(found))
"""
)


async def test_once_on_a_plain_http_url_asks_before_it_loads_aiohttp_or_any_ca(
    tmp_path: Path,
) -> None:
    # a plain URL's body comes through the engine's own receiver: aiohttp (whose
    # import builds two verifying contexts) and the system CAs wait for a first API
    # call, hook, proxied body or https URL, none of which this run has
    import anyio
    from aiohttp import web

    from tests.support.web import serve

    async def body(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 1000, content_type="application/octet-stream")

    async with serve({"/one.bin": body}) as base:
        host, port = base.removeprefix("http://").split(":")
        config = tmp_path / "config.toml"
        config.write_text(
            f'[archive]\nroot = "{tmp_path / "archive"}"\n'
            f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
            f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
        )
        (tmp_path / "watchlist.toml").write_text(
            f'[[http.file]]\nid = "one"\nurl = "{base}/one.bin"\n'
        )
        code = f"CONFIG = {str(config)!r}\nSERVER = {(host, int(port))!r}\n{FIRST_REQUEST_PROBE}"
        with anyio.fail_after(100):
            done = await anyio.run_process([sys.executable, "-c", code], check=False)
    assert done.returncode == 0, done.stderr.decode()
    found = json.loads(done.stdout.decode().splitlines()[-1])
    assert found == {
        "aiohttp": [],
        "ca_loads": 0,
        "exit": 0,
        # the state database is opened on its own thread while the runners load
        "store": {"thread": "open", "runners_loaded": False},
    }
    assert list((tmp_path / "archive").glob("**/one.bin"))
