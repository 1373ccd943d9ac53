"""What an item costs the platform: API calls per kind, from watchlist line to bag.

Counted from the emulator's request log with one item of each kind, each remote job
running one answer long and each package prepared one answer long.  The minimum of
each kind is what its platform's dance needs when nothing known is asked again: a
Pixxel job is listed running, listed finished, read alone once (only "still running"
is taken from a list), asked for its package twice (pending, ready): 5.  The same
numbers hold whether the waits are slept through or the item is parked between its
turns (each turn then taking up where the last one stopped).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from downloader.config import PollSettings
from downloader.providers._poll import PARK_AFTER
from downloader.store import ItemState, open_store
from tests.support.once import FAST_POLL, once_against

SCENARIO = """
[emulator]
seed = 5
pixxel_api_key = "k"
scale_token = "t"
alteryx_client_id = "i"
alteryx_client_secret = "s"

[[pixxel.job]]
workflow_id = "wf"
job_id = "j1"
polls_until_done = 1
polls_until_ready = 1
files = [{ name = "a.tif", size = 1000 }]

[[pixxel.task]]
workflow_id = "wt"
job_id = "j2"
task_id = "t1"
polls_until_done = 1
polls_until_ready = 1
files = [{ name = "b.tif", size = 1000 }]

[[pixxel.catalog]]
id = "c1"
polls_until_ready = 1
files = [{ name = "c.tif", size = 1000 }]

[[pixxel.order_item]]
id = "o1"
polls_until_done = 1
polls_until_ready = 1
files = [{ name = "d.tif", size = 1000 }]

[[scale.job]]
id = 15
polls_until_done = 1
files = [{ name = "e.kml", size = 1000, media_type = "text/xml", output = "kml" }]

[[alteryx.job]]
id = "66ebd18d3d6200007e000d8c"
polls_until_done = 1
outputs = [{ id = "o1", file_name = "f.csv", size = 1000, formats = ["Raw"] }]
"""

# what each request is recognised by: its item, else its path (lists, tokens, records)
MARKS = (
    ("alteryx:job", ("alteryx",)),
    ("scale:job", ("scale",)),
    ("pixxel:task", ("wt/",)),
    ("pixxel:job", ("wf/",)),
    ("pixxel:order_item", ("order_item:o1", "order-items/o1")),
    ("pixxel:catalog", ("catalog:c1", "catalogs/c1")),
)

MINIMUM = {
    # list (running), list (finished), GET the job, PUT (pending), PUT (ready)
    "pixxel:job": 5,
    # GET the job (running), GET (finished), PUT (pending), PUT (ready): no list of tasks
    "pixxel:task": 4,
    # POST the download, GET its status (pending), GET (ready), GET the record (its scene)
    "pixxel:catalog": 4,
    # GET the order item (active), GET (fulfilled, its scene too), POST, GET status twice
    "pixxel:order_item": 5,
    # list (running), list (finished), GET the job, GET its files
    "scale:job": 4,
    # token, GET the job (running), GET (finished), GET its messages, GET the output
    "alteryx:job": 5,
}

# every wait long enough to park, jitter and all
PARKING = PollSettings(
    initial_interval=1.5 * PARK_AFTER, max_interval=1.5 * PARK_AFTER, give_up_after=60
)


def kind_of(item: str | None, path: str) -> str:
    text = f"{item or ''} {path}"
    for kind, marks in MARKS:
        if any(mark in text for mark in marks):
            return kind
    raise AssertionError(f"a request of no item: {path}")


@pytest.mark.parametrize("poll", [FAST_POLL, PARKING], ids=["slept", "parked"])
async def test_each_kind_costs_its_minimum_of_api_calls(tmp_path: Path, poll: PollSettings) -> None:
    async with once_against(tmp_path, SCENARIO, poll=poll) as (running, _):
        log = running.emulator.log
        stats = running.emulator.stats()
    archived = {key for key, s in stats.items() if s["bytes_served"] > 0}
    assert len(archived) == 6, stats
    calls = Counter(kind_of(r.item, r.path) for r in log)
    assert calls["pixxel:job"] <= 5
    assert dict(calls) == MINIMUM, [f"{r.method} {r.path}" for r in log]


async def test_a_download_request_whose_answer_cannot_be_read_is_not_made_again(
    tmp_path: Path,
) -> None:
    # each request would make another download on the platform: one, and the item fails
    text = "\n".join(
        [
            "[emulator]",
            'pixxel_api_key = "k"',
            "[[pixxel.catalog]]",
            'id = "c1"',
            'malformed = "missing_field"',
            "malformed_times = 1",
            'files = [{ name = "c.tif", size = 1000 }]',
        ]
    )
    async with once_against(tmp_path, text) as (running, settings):
        log = running.emulator.log
    async with open_store(settings.state.url) as store:
        [record] = await store.list_items()
    assert [(r.method, r.path) for r in log] == [("POST", "/pixxel/v0/catalogs/download")]
    assert record.state is ItemState.FAILED
    assert "MalformedResponse" in (record.error or "")
