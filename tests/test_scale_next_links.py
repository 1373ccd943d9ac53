"""Scale's `next` links that name another origin are followed on the configured server.

Behind a proxy that does not pass the host name on, Django writes its own address
into every page's `next` (the emulator's `scale_next_origin`).  That address cannot
be reached from here and must never be sent the token: the link's path and query
are asked of the configured `base_url` instead.
"""

from __future__ import annotations

from pathlib import Path

from downloader.store import ItemState, open_store
from tests.support.once import once_against

SCENARIO = """
[emulator]
seed = 4
scale_token = "sc-token"
page_size = 1
scale_next_origin = "http://10.0.0.7:8000"

[[scale.job]]
id = 77
files = [
  { name = "a.tif", size = 3000 },
  { name = "b.tif", size = 2000 },
  { name = "c.json", size = 100 },
]
"""


async def test_every_page_of_a_job_behind_a_proxy_is_fetched_from_the_configured_server(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, SCENARIO) as (running, settings):
        pages = [r for r in running.emulator.log if r.path == "/scale/v6/files/"]
    async with open_store(settings.state.url) as store:
        [record] = await store.list_items()
    assert record.state is ItemState.ARCHIVED, record.error
    assert len(pages) == 3  # one file a page, every page asked of the emulator
    assert all(r.authorization for r in pages)
    bag = settings.archive.root / "scale" / "jobs" / "77"
    assert sorted(p.name for p in (bag / "data").iterdir()) == ["a.tif", "b.tif", "c.json"]
