"""What the metrics count when things go wrong: retries, URL refreshes, repairs, 429s."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from downloader.metrics import Metrics
from downloader.store import open_store
from downloader.store._models import REPAIRED
from tests.support.once import once_against
from tests.support.prom import parse, total

SCENARIO = """
[emulator]
seed = 31
pixxel_api_key = "px-faults-key-1"

# the connection drops once after 100 kB: retried, resumed
[[pixxel.job]]
workflow_id = "wf"
job_id = "drops"
files = [{ name = "a.tif", size = 300000 }]
faults = { drop_after_bytes = 100000, drop_times = 1 }

# the signed URL is refused once (403): a fresh one asked for, then fetched
[[pixxel.job]]
workflow_id = "wf"
job_id = "refused"
files = [{ name = "e.tif", size = 200000 }]
faults = { error_statuses = [403] }

# one bit of one member flipped on the way: repaired by its span
[[pixxel.job]]
workflow_id = "wf"
job_id = "flip"
files = [{ name = "b.tif", size = 1048576 }, { name = "c.json", size = 2000 }]
corrupt_member = "b.tif"

# the first two API calls about it are refused with 429
[[pixxel.catalog]]
id = "busy"
throttle = 2
retry_after = "0"
files = [{ name = "d.tif", size = 50000 }]
"""


async def test_retries_refreshes_repairs_and_refused_calls_are_counted_as_they_happened(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    with capture_logs() as logs:
        async with (
            once_against(tmp_path, SCENARIO, observer=metrics) as (running, settings),
            aiohttp.ClientSession() as http,
            http.get(running.base_url + "/_emulator/log") as resp,
        ):
            served = await resp.json()
    api_log = served["api"]
    # the bodies of files, not of the refusals (a 403's text is never written anywhere)
    served_bytes = sum(r["bytes_sent"] for r in served["files"] if r["status"] < 300)
    page = parse(generate_latest(metrics.registry).decode())
    events = Counter(e["event"] for e in logs)
    assert events["item.archived"] == 4, [e for e in logs if e["event"] == "item.failed"]
    assert events["transfer.retry"] >= 1
    assert total(page, "downloader_retries_total", what="transfer") == events["transfer.retry"]
    assert total(page, "downloader_retries_total", what="item") == 0
    assert events["transfer.refresh_url"] >= 1
    refreshes = total(page, "downloader_url_refreshes_total", provider="pixxel")
    assert refreshes == events["transfer.refresh_url"]
    async with open_store(settings.state.url) as store:
        repairs = [e for e in await store.events("pixxel:job:wf/flip") if e.kind == REPAIRED]
    assert len(repairs) == 1
    assert total(page, "downloader_repairs_total", provider="pixxel") == 1
    # the member's span: its local header and its data
    assert 1048576 < total(page, "downloader_repaired_bytes_total") < 1048576 + 4096
    # every byte the file host sent arrived and was counted, the repair's span included
    assert total(page, "downloader_fetched_bytes_total", provider="pixxel") == served_bytes
    refused = sum(1 for r in api_log if r["status"] == 429)
    assert refused == 2
    assert total(page, "downloader_api_requests_total", status_class="4xx") == refused
    assert total(page, "downloader_api_requests_total") == len(api_log)
