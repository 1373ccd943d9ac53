"""The emulator's webhook receiver (`[emulator] hook_failures`): a client whose
`[[hooks]]` post to it sees the first POSTs refused and its retries taken, each
event with one idempotency key; the receiver shows what it got."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp

from downloader.config import load_config
from downloader.emulator import Emulator, parse_scenario
from downloader.runners._compose import run_once
from downloader.watchlist import load_watchlist
from tests.support.client import emulator_client
from tests.support.once import FAST_POLL

SCENARIO = """
[emulator]
scale_token = "sc-hooks-token-1"
hook_failures = 3

[[scale.job]]
id = 71
files = [{ name = "a.tif", size = 30000 }]

[[scale.job]]
id = 72
files = [{ name = "b.tif", size = 20000 }]
"""


async def test_a_client_gets_its_events_through_a_receiver_that_refuses_the_first_posts(
    tmp_path: Path,
) -> None:
    emulator = Emulator(parse_scenario(SCENARIO, source="scenario.toml"))
    async with emulator_client(emulator, tmp_path, hooks=True) as (running, files):
        settings = dataclasses.replace(load_config(files.config), poll=FAST_POLL)
        result = await run_once(settings, list(load_watchlist(files.watchlist).items))
        receiver = running.emulator.hooks
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{running.base_url}/_emulator/hooks") as response,
        ):
            shown = await response.json()
        api_paths = {record.path for record in running.emulator.log}
    assert (result.archived, result.failed, result.hooks_left) == (2, 0, 0)
    assert [event.status for event in receiver.received[:3]] == [503, 503, 503]
    accepted = receiver.accepted()
    assert sorted(event.document["item"] for event in accepted) == ["scale:job:71", "scale:job:72"]
    for event in accepted:
        assert event.idempotency_key == event.document["event_id"]
        tries = [e for e in receiver.received if e.document["item"] == event.document["item"]]
        assert {e.idempotency_key for e in tries} == {event.idempotency_key}
        (payload,) = event.document["files"]
        assert payload["sha256"]
    assert len(shown) == len(receiver.received)
    assert not any(path.startswith("/hooks") for path in api_paths)  # no platform API call
