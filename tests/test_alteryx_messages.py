"""An Alteryx job's disposition decides, and its messages go into the bag.

Against the emulator: a job is polled with `includeMessages=false` and its messages
asked for once, at the end (`GET /v3/jobs/{id}/messages`), answered as a list, as
one object, or refused (403) as to anyone but a Curator.  A `Warning` job is
archived by default with its messages as `alteryx-messages.json`, a tag file in the
tag manifest, and its warnings logged; `accept_dispositions` can refuse it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from structlog.testing import capture_logs

from downloader.archive import item_path, verify_bag
from downloader.runners._compose import run_once
from downloader.store import ItemState, open_store
from tests.support.once import emulated

SCENARIO = """
[emulator]
seed = 8

[[alteryx.job]]
id = "warned"
polls_until_done = 2
disposition = "Warning"
outputs = [{ id = "o1", file_name = "result.csv", size = 2000 }]
messages = [
  { status = 1, text = "Started running", tool_id = 1 },
  { status = 2, text = "Field 'Area' truncated", tool_id = 4 },
]

[[alteryx.job]]
id = "one-object"
disposition = "Success"
messages_answer = "object"
outputs = [{ id = "o1", file_name = "a.csv", size = 100 }]
messages = [{ status = 1, text = "Finished", tool_id = 9 }]

[[alteryx.job]]
id = "no-curator"
messages_answer = "forbidden"
outputs = [{ id = "o1", file_name = "b.csv", size = 100 }]
messages = [{ status = 1, text = "Finished", tool_id = 9 }]
"""


async def test_a_warning_job_is_archived_with_its_messages_as_a_tag_file(tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with emulated(tmp_path, SCENARIO) as (running, settings, refs):
            result = await run_once(settings, refs)
            stats = running.emulator.stats()
    assert result.failed == 0, result
    refs_by_id = {ref.ids[0]: ref for ref in refs}
    root = settings.archive.root

    warned = root / item_path(refs_by_id["warned"])
    assert json.loads((warned / "alteryx-messages.json").read_text()) == [
        {"status": 1, "text": "Started running", "toolId": 1},
        {"status": 2, "text": "Field 'Area' truncated", "toolId": 4},
    ]
    assert "alteryx-messages.json" in (warned / "tagmanifest-sha256.txt").read_text()
    assert verify_bag(warned).ok
    # polled without messages, asked for them once
    assert stats["alteryx:job:warned"]["polls_with_messages"] == 0
    assert stats["alteryx:job:warned"]["messages_asked"] == 1
    warnings = [e for e in logs if e["event"] == "provider.job_warning"]
    assert [(e["item"], e["text"], e["tool_id"]) for e in warnings] == [
        ("alteryx:job:warned", "Field 'Area' truncated", 4)
    ]

    one = root / item_path(refs_by_id["one-object"])
    assert json.loads((one / "alteryx-messages.json").read_text()) == [
        {"status": 1, "text": "Finished", "toolId": 9}
    ]

    # only Curators may read messages: the job is archived without them, and says so
    forbidden = root / item_path(refs_by_id["no-curator"])
    assert (forbidden / "data" / "b.csv").is_file()
    assert not (forbidden / "alteryx-messages.json").exists()
    assert verify_bag(forbidden).ok
    [refused] = [e for e in logs if e["event"] == "provider.messages_unavailable"]
    assert refused["item"] == "alteryx:job:no-curator"
    assert "HTTP 403" in refused["reason"]


async def test_accept_dispositions_decides_which_completed_jobs_are_downloaded(
    tmp_path: Path,
) -> None:
    async with emulated(tmp_path, SCENARIO) as (running, settings, refs):
        assert settings.providers.alteryx is not None
        strict = dataclasses.replace(settings.providers.alteryx, accept_dispositions=("success",))
        settings = dataclasses.replace(
            settings, providers=dataclasses.replace(settings.providers, alteryx=strict)
        )
        await run_once(settings, refs)
        stats = running.emulator.stats()
    async with open_store(settings.state.url) as store:
        records = {r.key: r for r in await store.list_items()}
    warned = records["alteryx:job:warned"]
    assert warned.state is ItemState.FAILED
    assert warned.error == "RemoteJobFailed: Alteryx job warned completed with disposition Warning"
    assert stats["alteryx:job:warned"]["package_requests"] == 0  # no output fetched
    assert records["alteryx:job:one-object"].state is ItemState.ARCHIVED
