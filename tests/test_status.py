"""`downloader status` prints exactly what the contract shows, from the cheap summary path.

Status reads `ItemSummary`s (no full records, times as stored microseconds) and
formats times through a cache.  These tests hold that path to the output the
full records give: byte for byte through the command on both backends, for
items in every state, with errors, archive paths, leases and times that are
not whole seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from downloader.items import ItemRef
from downloader.runners._status import (
    collect_status,
    item_json,
    lease_holder,
    render_text,
    status_output,
    summary_json,
    utc_text,
)
from downloader.store import (
    AssetRecord,
    AssetState,
    ItemRecord,
    ItemState,
    StateStore,
    is_terminal,
    open_store,
)
from downloader.store._rows import maybe_micros, summarize

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NEW_YEAR = datetime(2027, 1, 1, tzinfo=UTC)

FAILED = ItemRef.parse("alteryx:job:j-1")
ARCHIVED = ItemRef.parse("http:file:a.example.org/one.bin")
LEASED = ItemRef.parse("http:file:a.example.org/two.bin")
EXPIRED = ItemRef.parse("http:file:a.example.org/three.bin")
REQUESTED = ItemRef.parse("pixxel:job:wf-1/job-1")
PREPARING = ItemRef.parse("pixxel:job:wf-1/job-2")
VERIFYING = ItemRef.parse("scale:job:15096")
RETRYING = ItemRef.parse("scale:job:15097")
WAITING = ItemRef.parse("scale:job:15098")
REMOVED = ItemRef.parse("scale:job:99999")
LISTED = [FAILED, ARCHIVED, LEASED, EXPIRED, REQUESTED, PREPARING, VERIFYING, RETRYING, WAITING]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def fill(store: StateStore) -> None:
    """One item in every state, one removed; last updates at odd fractions of a second."""
    S = ItemState
    await store.sync_watchlist([*LISTED, REMOVED], now=T0)
    await store.sync_watchlist(LISTED, now=at(1))
    error = 'sha256 mismatch: expected "1111", got é'
    await store.transition(FAILED.key, S.FAILED, now=at(0.999999), error=error)
    await store.transition(ARCHIVED.key, S.DOWNLOADING, now=at(2))
    one = AssetRecord(ARCHIVED.key, "f1", "one.bin", size=4000, sha256="ab" * 32)
    await store.save_asset(one, now=at(2))
    await store.save_asset(
        AssetRecord(ARCHIVED.key, "f2", "one.xml", size=None, state=AssetState.FAILED), now=at(2)
    )
    await store.set_progress(ARCHIVED.key, 4000, 4000, now=at(3))
    await store.save_asset(
        AssetRecord(
            ARCHIVED.key, "f1", "one.bin", size=4000, state=AssetState.DONE, bytes_done=4000
        ),
        now=at(3),
    )
    await store.transition(ARCHIVED.key, S.VERIFYING, now=at(4))
    archive = "/srv/archive/http/a.example.org/one.bin"
    await store.transition(ARCHIVED.key, S.ARCHIVED, now=at(59.5), archive_path=archive)
    await store.transition(LEASED.key, S.DOWNLOADING, now=at(5))
    await store.set_progress(LEASED.key, 1_048_576, 4_194_304, now=NEW_YEAR - timedelta.resolution)
    await store.transition(EXPIRED.key, S.DOWNLOADING, now=at(6))
    await store.set_progress(EXPIRED.key, 512, None, now=NEW_YEAR)
    await store.transition(REQUESTED.key, S.REQUESTED, now=at(7))
    await store.transition(PREPARING.key, S.REQUESTED, now=at(8))
    await store.transition(PREPARING.key, S.PREPARING, now=at(9))
    await store.schedule(PREPARING.key, at(100), now=at(10.25), error="HTTP 503; retrying")
    await store.transition(VERIFYING.key, S.DOWNLOADING, now=at(11))
    await store.transition(VERIFYING.key, S.VERIFYING, now=at(12))
    await store.schedule(RETRYING.key, at(200), now=at(13), error="HTTP 429")
    # node-b's lease on EXPIRED runs out at at(50); node-a holds LEASED for a century
    for owner, now, lease, keep in [
        ("node-b", at(20), timedelta(seconds=30), EXPIRED),
        ("node-a", at(21), timedelta(days=36500), LEASED),
    ]:
        for item in await store.claim(owner, now=now, lease=lease, limit=100):
            if item.key != keep.key:
                await store.release(owner, item.key)


@pytest.fixture
async def filled(state_url: str) -> AsyncIterator[StateStore]:
    async with open_store(state_url) as store:
        await fill(store)
        yield store


# What `status` printed for `fill` before it read summaries (taken from that version),
# with sizes in binary units since they are read by people;
# with the wall clock of 2026 or later, node-b's lease has run out and node-a's has not.
EXPECTED_TEXT = """\
alteryx:job:j-1                                    failed                      0 B/?  sha256 mismatch: expected "1111", got é
http:file:a.example.org/one.bin                    archived          3.9 KiB/3.9 KiB  /srv/archive/http/a.example.org/one.bin
http:file:a.example.org/three.bin                  downloading               512 B/?
http:file:a.example.org/two.bin                    downloading       1.0 MiB/4.0 MiB  [node-a]
pixxel:job:wf-1/job-1                              requested                   0 B/?
pixxel:job:wf-1/job-2                              preparing                   0 B/?  HTTP 503; retrying
scale:job:15096                                    verifying                   0 B/?
scale:job:15097                                    waiting                     0 B/?  HTTP 429
scale:job:15098                                    waiting                     0 B/?
"""  # noqa: E501

EXPECTED_VERBOSE = """\
alteryx:job:j-1                                    failed                      0 B/?  sha256 mismatch: expected "1111", got é
http:file:a.example.org/one.bin                    archived          3.9 KiB/3.9 KiB  /srv/archive/http/a.example.org/one.bin
    one.bin                                        done                      3.9 KiB
    one.xml                                        failed                        0 B
http:file:a.example.org/three.bin                  downloading               512 B/?
http:file:a.example.org/two.bin                    downloading       1.0 MiB/4.0 MiB  [node-a]
pixxel:job:wf-1/job-1                              requested                   0 B/?
pixxel:job:wf-1/job-2                              preparing                   0 B/?  HTTP 503; retrying
scale:job:15096                                    verifying                   0 B/?
scale:job:15097                                    waiting                     0 B/?  HTTP 429
scale:job:15098                                    waiting                     0 B/?
"""  # noqa: E501

EXPECTED_JSON = """\
[{"item": "alteryx:job:j-1", "provider": "alteryx", "kind": "job", "state": "failed", "bytes_done": 0, "bytes_total": null, "error": "sha256 mismatch: expected \\"1111\\", got \\u00e9", "archive_path": null, "updated_at": "2026-11-23T10:00:00Z", "node": null, "attempts": 0, "next_attempt_at": null, "source": null}, \
{"item": "http:file:a.example.org/one.bin", "provider": "http", "kind": "file", "state": "archived", "bytes_done": 4000, "bytes_total": 4000, "error": null, "archive_path": "/srv/archive/http/a.example.org/one.bin", "updated_at": "2026-11-23T10:00:59Z", "node": null, "attempts": 0, "next_attempt_at": null, "source": null}, \
{"item": "http:file:a.example.org/three.bin", "provider": "http", "kind": "file", "state": "downloading", "bytes_done": 512, "bytes_total": null, "error": null, "archive_path": null, "updated_at": "2027-01-01T00:00:00Z", "node": null, "attempts": 0, "next_attempt_at": null, "source": null}, \
{"item": "http:file:a.example.org/two.bin", "provider": "http", "kind": "file", "state": "downloading", "bytes_done": 1048576, "bytes_total": 4194304, "error": null, "archive_path": null, "updated_at": "2026-12-31T23:59:59Z", "node": "node-a", "attempts": 0, "next_attempt_at": null, "source": null}, \
{"item": "pixxel:job:wf-1/job-1", "provider": "pixxel", "kind": "job", "state": "requested", "bytes_done": 0, "bytes_total": null, "error": null, "archive_path": null, "updated_at": "2026-11-23T10:00:07Z", "node": null, "attempts": 0, "next_attempt_at": null, "source": null}, \
{"item": "pixxel:job:wf-1/job-2", "provider": "pixxel", "kind": "job", "state": "preparing", "bytes_done": 0, "bytes_total": null, "error": "HTTP 503; retrying", "archive_path": null, "updated_at": "2026-11-23T10:00:10Z", "node": null, "attempts": 1, "next_attempt_at": "2026-11-23T10:01:40Z", "source": null}, \
{"item": "scale:job:15096", "provider": "scale", "kind": "job", "state": "verifying", "bytes_done": 0, "bytes_total": null, "error": null, "archive_path": null, "updated_at": "2026-11-23T10:00:12Z", "node": null, "attempts": 0, "next_attempt_at": null, "source": null}, \
{"item": "scale:job:15097", "provider": "scale", "kind": "job", "state": "waiting", "bytes_done": 0, "bytes_total": null, "error": "HTTP 429", "archive_path": null, "updated_at": "2026-11-23T10:00:13Z", "node": null, "attempts": 1, "next_attempt_at": "2026-11-23T10:03:20Z", "source": null}, \
{"item": "scale:job:15098", "provider": "scale", "kind": "job", "state": "waiting", "bytes_done": 0, "bytes_total": null, "error": null, "archive_path": null, "updated_at": "2026-11-23T10:00:00Z", "node": null, "attempts": 0, "next_attempt_at": null, "source": null}]
"""  # noqa: E501


def status(state_url: str, tmp_path: Path, *flags: str, code: int = 1) -> str:
    """`status` of the store, which has a failed item: it exits `code` (1: failed)."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "{state_url}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "downloader", "status", *flags, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code, done.stderr
    return done.stdout


async def test_status_prints_exactly_the_lines_it_always_did_for_every_state(
    filled: StateStore, state_url: str, tmp_path: Path
) -> None:
    assert status(state_url, tmp_path) == EXPECTED_TEXT
    assert status(state_url, tmp_path, "-v") == EXPECTED_VERBOSE


async def test_status_json_is_exactly_the_contract_objects_it_always_was(
    filled: StateStore, state_url: str, tmp_path: Path
) -> None:
    out = status(state_url, tmp_path, "--json")
    assert out == EXPECTED_JSON
    for row in json.loads(out):  # every key the contract names, with `node` added
        assert list(row) == [
            *("item", "provider", "kind", "state", "bytes_done", "bytes_total", "error"),
            *("archive_path", "updated_at", "node", "attempts", "next_attempt_at", "source"),
        ]


@pytest.mark.parametrize("include_inactive", [False, True])
async def test_summaries_are_what_the_full_records_hold(
    filled: StateStore, include_inactive: bool
) -> None:
    records = await filled.list_items(include_inactive=include_inactive)
    summaries = await filled.list_summaries(include_inactive=include_inactive)
    assert summaries == [summarize(r) for r in records]
    assert (REMOVED.key in [s.key for s in summaries]) is include_inactive
    assert all(type(s.state) is ItemState for s in summaries)


def reference_json(record: ItemRecord, now: datetime | None) -> dict[str, Any]:
    """The status object built the plain way, from `datetime`s."""
    expires = record.lease_expires_at
    running = expires is not None and (now is None or expires > now)
    due = record.next_attempt_at
    retrying = record.attempts > 0 and record.error is not None and not is_terminal(record.state)
    return {
        "item": record.key,
        "provider": record.provider,
        "kind": record.kind,
        "state": str(record.state),
        "bytes_done": record.bytes_done,
        "bytes_total": record.bytes_total,
        "error": record.error,
        "archive_path": record.archive_path,
        "updated_at": record.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "node": record.lease_owner if running else None,
        "attempts": record.attempts,
        "next_attempt_at": due.strftime("%Y-%m-%dT%H:%M:%SZ") if retrying and due else None,
        "source": None,  # named by their own entries
    }


@pytest.mark.parametrize("now", [None, at(21), at(50), at(10**6)])
async def test_status_objects_from_summaries_equal_those_built_from_full_records(
    filled: StateStore, now: datetime | None
) -> None:
    records = await filled.list_items()
    expected = [reference_json(r, now) for r in records]
    assert [item_json(r, now) for r in records] == expected
    assert [lease_holder(r, now) for r in records] == [row["node"] for row in expected]
    assert [summary_json(summarize(r), maybe_micros(now)) for r in records] == expected
    rows = await collect_status(filled, verbose=False, now=now)
    assert rows == expected
    # the plain text, made from the summaries without these objects, is theirs line by line
    text = await status_output(filled, as_json=False, verbose=False, now=now)
    assert text.text == render_text(expected, maybe_micros(now))
    as_json = await status_output(filled, as_json=True, verbose=False, now=now)
    assert json.loads(as_json.text) == expected
    # node-b's lease runs at at(21) and is over from at(50) on; node-a's runs throughout
    nodes = {row["item"]: row["node"] for row in rows if row["node"]}
    if now is None or now == at(21):
        assert nodes == {EXPIRED.key: "node-b", LEASED.key: "node-a"}
    else:
        assert nodes == {LEASED.key: "node-a"}


def test_times_show_the_second_they_fall_in_as_datetime_writes_it() -> None:
    moments = [
        *(NEW_YEAR + timedelta(microseconds=m) for m in (-1_000_001, -1, 0, 1, 999_999)),
        datetime(2028, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        *(T0 + timedelta(seconds=s * 7919.37) for s in range(2000)),
    ]
    for when in moments:
        micros = maybe_micros(when)
        assert micros is not None
        assert utc_text(micros // 1_000_000) == when.strftime("%Y-%m-%dT%H:%M:%SZ"), when


def test_status_loads_no_network_or_logging_library(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
    )
    probe = (
        "import sys\nfrom downloader.cli import main\n"
        f"code = main(['status', '-c', {str(config)!r}])\n"
        "loaded = {'aiohttp', 'structlog', 'rich', 'downloader.transfer._engine',"
        " 'downloader.providers'} & set(sys.modules)\n"
        "print(code, sorted(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []"


def test_the_runners_package_still_names_its_drivers_when_asked() -> None:
    import downloader.runners as runners
    from downloader.runners._batch import BatchResult, run_batch
    from downloader.runners._pipeline import ItemWorker
    from downloader.runners._scheduler import Scheduler

    assert [getattr(runners, name) for name in runners.__all__] == [
        BatchResult,
        ItemWorker,
        Scheduler,
        run_batch,
    ]
    with pytest.raises(AttributeError):
        runners.Nothing  # noqa: B018


async def test_an_item_waiting_for_its_next_try_says_when_how_often_and_why(
    filled: StateStore,
) -> None:
    # PREPARING failed once at at(10.25) and is tried again at at(100); RETRYING at at(200)
    output = await status_output(filled, as_json=False, verbose=False, now=at(40), retry_budget=8)
    lines = {line.split()[0]: line for line in output.text.splitlines()}
    assert lines[PREPARING.key].endswith("0 B/?  retrying in 1m (1/8): HTTP 503; retrying")
    assert lines[RETRYING.key].endswith("0 B/?  retrying in 2m40s (1/8): HTTP 429")
    assert lines[FAILED.key].endswith("got é")  # a failed item is not tried again
    verbose = (
        await status_output(filled, as_json=False, verbose=True, now=at(40), retry_budget=8)
    ).text
    assert "retrying in 2m40s (1/8): HTTP 429" in verbose
    assert "    one.bin" in verbose
    rows = json.loads((await status_output(filled, as_json=True, verbose=False, now=at(40))).text)
    by_item = {row["item"]: row for row in rows}
    assert (by_item[RETRYING.key]["attempts"], by_item[RETRYING.key]["next_attempt_at"]) == (
        1,
        "2026-11-23T10:03:20Z",
    )
    assert by_item[WAITING.key]["next_attempt_at"] is None
    # once the try is due the line shows the bare error: the item may be being worked
    later = (await status_output(filled, as_json=False, verbose=False, now=at(300))).text
    assert "retrying" not in later.replace("HTTP 503; retrying", "")
