"""Answers that cannot be read end an item after `poll.unreadable_limit` in a row.

A single-sign-on proxy that answers every API call with its login page (200, HTML),
or a platform that starts using a status word we do not know, does not heal by being
asked for `give_up_after` (48 h by default).  The item fails after a few such answers
in a row, its error naming the request and quoting the answer; the count goes on
from one turn of a parked item to the next.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from structlog.testing import capture_logs

from downloader.config import PollSettings
from downloader.providers._poll import PARK_AFTER
from downloader.store import ItemState, open_store
from tests.support.once import once_against

LIMIT = 3
# every wait parks the item, so each answer comes in a turn of its own; a budget far
# longer than the test may take
POLL = PollSettings(
    initial_interval=1.2 * PARK_AFTER,
    max_interval=1.2 * PARK_AFTER,
    give_up_after=120.0,
    unreadable_limit=LIMIT,
)
FAST = PollSettings(initial_interval=0.05, max_interval=0.1, give_up_after=120.0)

SCENARIO = """
[emulator]
seed = 5

[[alteryx.job]]
id = "behind-sso"
outputs = [{ id = "o1", file_name = "r.csv", size = 100 }]
malformed = "login_page"

[[pixxel.catalog]]
id = "odd-words"
files = [{ name = "a.tif", size = 1000 }]
polls_until_ready = 3
malformed = "unknown_status"
"""


async def _errors(url: str) -> dict[str, tuple[ItemState, str]]:
    async with open_store(url) as store:
        return {r.key: (r.state, r.error or "") for r in await store.list_items()}


async def test_unreadable_answers_in_a_row_fail_the_item_with_the_request_and_an_excerpt(
    tmp_path: Path,
) -> None:
    with capture_logs() as logs:
        async with once_against(tmp_path, SCENARIO, poll=POLL) as (running, settings):
            stats = running.emulator.stats()
    errors = await _errors(settings.state.url)

    state, error = errors["alteryx:job:behind-sso"]
    assert state is ItemState.FAILED
    assert error.startswith("MalformedResponse: Alteryx API GET /alteryx/webapi/v3/jobs/behind-sso")
    assert f"({LIMIT} unreadable answers in a row)" in error
    assert "Sign in - Example SSO" in error  # the excerpt of the page
    assert stats["alteryx:job:behind-sso"]["malformed_served"] == LIMIT

    state, error = errors["pixxel:catalog:odd-words"]
    assert state is ItemState.FAILED
    assert "status 'reticulating-splines' is not a word we know" in error
    assert "the last answer to Pixxel API GET /pixxel/v0/catalogs/download/" in error
    # the unknown word was logged once for the item, not at every poll of its turns
    warned = [e for e in logs if e["event"] == "provider.unknown_status"]
    assert len(warned) == 1


async def test_an_integer_too_long_to_convert_is_an_unreadable_answer(tmp_path: Path) -> None:
    scenario = SCENARIO.replace('"login_page"', '"huge_integer"').replace(
        'malformed = "unknown_status"', ""
    )
    poll = dataclasses.replace(FAST, unreadable_limit=2)
    async with once_against(tmp_path, scenario, poll=poll) as (_, settings):
        pass
    errors = await _errors(settings.state.url)
    state, error = errors["alteryx:job:behind-sso"]
    assert state is ItemState.FAILED
    assert error.startswith("MalformedResponse: Alteryx API GET /alteryx/webapi/v3/jobs/behind-sso")
    assert "integer string conversion" in error
    assert errors["pixxel:catalog:odd-words"][0] is ItemState.ARCHIVED
