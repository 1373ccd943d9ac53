"""Hostile input not covered elsewhere: answers nested thousands deep, URLs of schemes we
never fetch, and config and watchlist files built from the schema's own keys with values
of every type (the only outcome other than success is a list of problems).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from downloader.clock import FakeClock
from downloader.config import parse_config
from downloader.config._keys import TABLES
from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.errors import MalformedResponse, TransferError, UnsafeRedirect
from downloader.providers._api import ApiClient
from downloader.transfer import AssetRequest
from downloader.watchlist import parse_watchlist
from tests.support.engine import make_engine, nothing_final_except
from tests.support.toml_text import render_config, toml_value
from tests.support.web import serve

DEEP = 100_000


@contextlib.asynccontextmanager
async def answering(body: bytes) -> AsyncIterator[ApiClient]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with serve({"/api/job": handler}) as base, aiohttp.ClientSession() as session:
        yield ApiClient(
            session,
            platform="Test",
            base_url=f"{base}/api/",
            clock=FakeClock(),
            limiter=anyio.CapacityLimiter(1),
        )


@pytest.mark.parametrize(
    "body",
    [b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP],
    ids=["arrays", "objects"],
)
async def test_an_answer_nested_thousands_deep_is_malformed_not_a_crash(body: bytes) -> None:
    async with answering(body) as api:
        with pytest.raises(MalformedResponse) as caught:
            await api.call("GET", "/job")
    assert str(caught.value) == "Test API GET /api/job: the answer is nested too deeply"


@pytest.mark.parametrize(
    "text",
    [
        "[archive]\nroot = " + "[" * DEEP,
        "x = " + "[" * 5000 + "]" * 5000,
        "x = " + "{ a = " * 3000 + "1" + " }" * 3000,
    ],
    ids=["unclosed", "arrays", "inline-tables"],
)
def test_a_config_or_watchlist_nested_thousands_deep_is_one_problem(text: str) -> None:
    report = parse_config(text, file="c.toml", base_dir=Path("/"), environ={})
    assert report.settings is None
    assert [p.message for p in report.problems] == ["TOML nested too deeply to read"]
    watchlist = parse_watchlist(text, file="w.toml", enabled_providers={"http"})
    assert not watchlist.items
    assert [p.message for p in watchlist.problems] == ["TOML nested too deeply to read"]


# --- URLs of schemes we never fetch ---------------------------------------------------------

SCHEMES = ["file:///etc/passwd", "ftp://127.0.0.1/x.bin", "data:text/plain;base64,aGVsbG8="]


@pytest.mark.parametrize("url", SCHEMES)
async def test_a_signed_url_of_another_scheme_is_refused_at_once(tmp_path: Path, url: str) -> None:
    async with make_engine(tmp_path) as (engine, clock):
        with pytest.raises(TransferError) as caught:
            await engine.fetch(AssetRequest("evil", url=url), tmp_path / "out")
    assert "only http and https URLs are fetched" in str(caught.value)
    assert not caught.value.retryable
    assert clock.sleeps == []  # not retried
    assert nothing_final_except(tmp_path / "out")


@pytest.mark.parametrize("url", SCHEMES)
async def test_a_renewed_url_of_another_scheme_is_refused(
    file_host: RunningHost, tmp_path: Path, url: str
) -> None:
    content = SeededContent(5, 10_000)
    file_host.host.add(FileSpec("/exp.bin", content), Faults(url_lifetime=0.0))

    async def refresh() -> str:
        return url

    async with make_engine(tmp_path) as (engine, _):
        request = AssetRequest("exp", url=file_host.signed_url("/exp.bin", -1), refresh_url=refresh)
        with pytest.raises(TransferError) as caught:
            await engine.fetch(request, tmp_path / "out")
    assert "only http and https URLs are fetched" in str(caught.value)
    assert nothing_final_except(tmp_path / "out")


async def test_a_redirect_to_a_data_url_is_refused(file_host: RunningHost, tmp_path: Path) -> None:
    file_host.host.add(
        FileSpec("/r.bin", SeededContent(1, 10)),
        Faults(redirect_to="data:application/octet-stream;base64,AAAA"),
    )
    async with make_engine(tmp_path) as (engine, _):
        with pytest.raises(UnsafeRedirect):
            await engine.fetch(AssetRequest("r", url=file_host.url("/r.bin")), tmp_path / "out")
    assert nothing_final_except(tmp_path / "out")


# --- config and watchlist files made of real keys and wild values --------------------------


SIZES_AND_TIMES = st.sampled_from(
    ["0", "1", "8KiB", "64MiB", "1GiB", "-1MiB", "1.5GB", "30s", "1h30m", "0ms", "x", "", "1e9"]
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=30),
    SIZES_AND_TIMES,
    st.sampled_from(["sqlite:///s.db", "postgresql://u:pw@h/db", "https://x", "/etc/passwd"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["env", "file", "x"]), inner, max_size=2),
    ),
    max_leaves=6,
)
KEYS = sorted((table, key) for table, spec in TABLES.items() for key in spec.keys)
DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=12)  # (table, key) -> value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_configs_of_real_keys_and_any_values_give_settings_or_problems(
    doc: dict[tuple[str, str], Any],
) -> None:
    text = render_config(doc)
    report = parse_config(text, file="c.toml", base_dir=Path("/nonexistent"), environ={"X": "v"})
    assert (report.settings is None) == bool(report.problems)
    for problem in report.problems:
        assert problem.file == "c.toml"
        assert problem.message


WATCH_KEYS = ["workflow_id", "job_id", "task_id", "id", "url", "sha256", "name"]
ENTRIES = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "pixxel.job",
                "pixxel.task",
                "pixxel.catalog",
                "pixxel.order_item",
                "scale.job",
                "alteryx.job",
                "http.file",
                "nope.job",
            ]
        ),
        st.dictionaries(
            st.sampled_from(WATCH_KEYS),
            st.one_of(
                VALUES,
                st.sampled_from(
                    [
                        "../../etc",
                        "/abs",
                        "a\x00b",
                        "CON",
                        "x" * 5000,
                        "file:///etc/passwd",
                        "http://127.0.0.1/a?sig=1",
                    ]
                ),
            ),
            max_size=4,
        ),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENTRIES)
def test_watchlists_of_real_tables_and_any_values_give_items_or_problems(
    entries: list[tuple[str, dict[str, Any]]],
) -> None:
    text = "\n".join(
        f"[[{table}]]\n" + "\n".join(f"{k} = {toml_value(v)}" for k, v in fields.items())
        for table, fields in entries
    )
    parsed = parse_watchlist(
        text, file="w.toml", enabled_providers={"pixxel", "scale", "alteryx", "http"}
    )
    for item in parsed.items:
        for part in item.ids:
            assert part not in ("", ".", "..")
            assert "\x00" not in part
        if item.url is not None:
            assert item.url.startswith(("http://", "https://"))
    for problem in parsed.problems:
        assert problem.file == "w.toml"
        assert problem.message


# --- file names chosen by the server ---------------------------------------------------------

HOSTILE_NAMES = [
    ('attachment; filename="../../../../tmp/escaped.bin"', "_.._.._.._tmp_escaped.bin"),
    ('attachment; filename="/etc/passwd"', "_etc_passwd"),
    ("attachment; filename*=UTF-8''nul%00byte%0D%0A.tif", "nulbyte.tif"),
    ("attachment; filename*=UTF-8''%1B%5B31mred%07.txt", "[31mred.txt"),
    ('attachment; filename="CON.tif"', "_CON.tif"),
    ('attachment; filename="' + "a" * 5000 + '.tif"', "a" * 196 + ".tif"),  # 200 bytes
]


@pytest.mark.parametrize(("header", "expected"), HOSTILE_NAMES)
async def test_a_hostile_served_name_lands_inside_the_destination_under_a_safe_name(
    file_host: RunningHost, tmp_path: Path, header: str, expected: str
) -> None:
    content = SeededContent(8, 4000)
    file_host.host.add(FileSpec("/n.bin", content, content_disposition=header))
    dest = tmp_path / "deep" / "out"
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(AssetRequest("n", url=file_host.url("/n.bin")), dest)
    assert result.name == expected
    assert result.path == dest / expected
    assert [p.name for p in dest.iterdir()] == [expected]
    assert result.sha256 == content.hexdigest()
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and dest not in p.parents]
    assert not [p for p in outside if ".partial" not in p.parts]
