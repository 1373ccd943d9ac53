"""Items waiting on a platform take turns: none holds a slot while it waits.

With one slot and three remote jobs that never finish ahead of one that finishes at
once, the quick one must be fetched first.  Where the platform lists a workflow's
jobs, the waiting items wait in the waiting room, asked about together and holding
no slot; where it does not, each waiting item is asked once and parked in the
store until its next poll, so the slot passes round.  Were the slot
held through the waits, the quick job would be looked at only after the three slow
ones had each used up their whole `give_up_after`.  They give up all the same, the
waits of all their turns counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from downloader.config import PollSettings
from downloader.providers._poll import PARK_AFTER
from downloader.store import ItemState, open_store
from downloader.transfer import Limits
from tests.support.once import once_against

SLOW = ("a-slow-1", "a-slow-2", "a-slow-3")  # claimed first: the watchlist's order
SCENARIO = "\n".join(
    [
        "[emulator]",
        "seed = 11",
        'pixxel_api_key = "k"',
        *(
            f'[[pixxel.job]]\nworkflow_id = "wf"\njob_id = "{job}"\n'
            "seconds_until_done = 100000000\n"
            'files = [{ name = "never.tif", size = 1024 }]'
            for job in SLOW
        ),
        '[[pixxel.job]]\nworkflow_id = "wf"\njob_id = "z-quick"\npolls_until_done = 1',
        'files = [{ name = "scene.tif", size = 200000 }]',
    ]
)
# every wait long enough to park, jitter and all; a few turns for each slow job, then it
# gives up
POLL = PollSettings(
    initial_interval=1.5 * PARK_AFTER, max_interval=1.5 * PARK_AFTER, give_up_after=4 * PARK_AFTER
)


@pytest.mark.parametrize("lists", [True, False], ids=["job-lists", "no-job-lists"])
async def test_one_slot_passes_round_the_waiting_items_so_a_quick_job_is_not_stuck(
    tmp_path: Path, lists: bool
) -> None:
    scenario = SCENARIO.replace("[emulator]", f"[emulator]\njob_lists = {str(lists).lower()}")
    async with once_against(tmp_path, scenario, poll=POLL, limits=Limits(max_concurrent=1)) as (
        running,
        settings,
    ):
        stats = running.emulator.stats()
        calls = {key: s["job_polls"] for key, s in stats.items()}  # each GET or listing
        listed = {key: s["listed"] for key, s in stats.items()}

    async with open_store(settings.state.url) as store:
        records = {r.key.rsplit("/", 1)[1]: r for r in await store.list_items()}
        ended = {
            job: [e.at for e in await store.events(r.key) if e.kind == "transition"][-1]
            for job, r in records.items()
        }
    states = [r.state for r in records.values()]
    assert (states.count(ItemState.ARCHIVED), states.count(ItemState.FAILED)) == (1, 3)
    assert records["z-quick"].state is ItemState.ARCHIVED
    for job in SLOW:
        assert records[job].state is ItemState.FAILED
        assert "not finished after 4s" in (records[job].error or "")
        # its parked turns were waits, not tries: none of them is counted against [retry]
        assert records[job].attempts == 0, records[job]
        # the quick job was archived while the slow ones were still being asked
        assert ended["z-quick"] < ended[job]
    # each slow job asked once per turn, about every 1.5 s and at the deadline, give or take
    # the jitter of the waits; never in a tight loop, never just once
    for job in SLOW:
        [count] = [n for key, n in calls.items() if key.endswith(job)]
        assert 3 <= count <= 6, calls
        [shown] = [n for key, n in listed.items() if key.endswith(job)]
        assert (shown > 0) is lists, listed
