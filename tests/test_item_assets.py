"""The assets of one item fetched side by side: seen from the file host (the emulator's
`gather` fault holds each response until that many are open at once), named uniquely in
package order, kept when a sibling fails, and a Scale job's expired URLs renewed by one
listing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from downloader.runners._asset_names import AssetNames
from downloader.runners._compose import run_once
from downloader.runners._fetch_assets import first_failure, in_order
from downloader.runners._item_bytes import AssetTally
from downloader.runners._put_back import put_back
from downloader.store import AssetState, ItemState, open_store
from tests.support.once import emulated, once_against


def scale_job(files: str, faults: str = "", extra: str = "") -> str:
    knobs = f"faults = {{ {faults} }}\n" if faults else ""
    return (
        '[emulator]\nseed = 21\nscale_token = "t"\n\n[[scale.job]]\nid = 77\n'
        f"{knobs}{extra}files = [{files}]\n"
    )


def sized(*pairs: tuple[str, int]) -> str:
    return ", ".join(f'{{ name = "{n}", size = {s} }}' for n, s in pairs)


SIX = sized(*((f"f-{i}.bin", 65_536 + i) for i in range(6)))


async def test_a_many_asset_items_files_are_asked_for_together(tmp_path: Path) -> None:
    # each response is held until 4 are open at once: one file after another never gets
    # there, and its first response would wait the 20 s out (counted as missed)
    text = scale_job(SIX, "gather = 4, gather_seconds = 20.0")
    async with once_against(tmp_path, text) as (running, settings):
        gathering = running.emulator.files.gathering
        assert gathering.missed == 0
        assert gathering.most >= 4
    async with open_store(settings.state.url) as store:
        (record,) = await store.list_items()
    assert record.state is ItemState.ARCHIVED
    total = sum(65_536 + i for i in range(6))
    assert (record.bytes_done, record.bytes_total) == (total, total)
    assert record.archive_path is not None
    names = sorted(p.name for p in (Path(record.archive_path) / "data").iterdir())
    assert names == [f"f-{i}.bin" for i in range(6)]


async def test_names_alike_go_in_package_order_whichever_file_lands_first(
    tmp_path: Path,
) -> None:
    # both are asked for at once and the small second one lands first; the bag still
    # gives the first in the package the plain name
    files = sized(("north/scene.tif", 400_000), ("north_scene.tif", 1_000))
    async with once_against(tmp_path, scale_job(files, "gather = 2")) as (running, settings):
        assert running.emulator.files.gathering.missed == 0
    async with open_store(settings.state.url) as store:
        (record,) = await store.list_items()
    assert record.archive_path is not None
    data = Path(record.archive_path) / "data"
    sizes = {p.name: p.stat().st_size for p in data.iterdir()}
    assert sizes == {"north_scene.tif": 400_000, "north_scene-2.tif": 1_000}


async def test_a_failed_asset_keeps_its_siblings_and_the_retry_asks_only_for_it(
    tmp_path: Path,
) -> None:
    files = sized(*((f"g-{i}.bin", 30_000 + i) for i in range(4)))
    async with emulated(tmp_path, scale_job(files)) as (running, settings, refs):
        host = running.emulator.files
        failing = next(p for p in running.emulator.ctx.owners if p.endswith("g-3.bin"))
        # answered only after two waits of a second: its siblings are in the bag by then
        host.faults(failing).error_statuses = [503, 503, 404]
        host.faults(failing).retry_after = "1"
        await run_once(settings, refs)
        async with open_store(settings.state.url) as store:
            record = await store.get(refs[0].key)
            assert record is not None
            assert record.state is ItemState.FAILED
            assert "404" in (record.error or "")
            recorded = await store.assets(refs[0].key)
            done = sorted(a.name for a in recorded if a.state is AssetState.DONE)
            assert done == ["g-0.bin", "g-1.bin", "g-2.bin"]
            await put_back(store, [refs[0].key], every_failed=False, now=datetime.now(UTC))
        before = len(host.log)
        await run_once(settings, refs)
        again = {r.path for r in host.log[before:]}
        assert again == {failing}
        async with open_store(settings.state.url) as store:
            record = await store.get(refs[0].key)
    assert record is not None
    assert record.state is ItemState.ARCHIVED
    assert record.archive_path is not None
    data = Path(record.archive_path) / "data"
    assert sorted(p.name for p in data.iterdir()) == [f"g-{i}.bin" for i in range(4)]
    expected = {f.name: f.sha256 for f in running.emulator.expected()[refs[0].key]}
    for p in data.iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == expected[p.name]


async def test_expired_urls_of_a_job_are_renewed_by_one_listing(tmp_path: Path) -> None:
    # the four first requests are held together past their URLs' lifetime (gather never
    # met: 5 of 4 files), so all four are refused as expired at once
    files = sized(*((f"h-{i}.bin", 20_000 + i) for i in range(4)))
    text = scale_job(files, "gather = 5, gather_seconds = 5.0", extra="url_lifetime = 3\n")
    async with once_against(tmp_path, text) as (running, settings):
        refused = [r for r in running.emulator.files.log if r.status == 403]
        listings = [r for r in running.emulator.log if r.path.startswith("/scale/v6/files")]
    assert len(refused) == 4
    assert len(listings) == 2  # the package's own, and one for the four renewals
    async with open_store(settings.state.url) as store:
        (record,) = await store.list_items()
    assert record.state is ItemState.ARCHIVED


# ---- the pure parts ------------------------------------------------------------------


def test_names_known_ahead_are_reserved_in_package_order() -> None:
    names = AssetNames(["kept.tif"])
    planned = names.plan(["a.tif", None, "a.tif", "kept.tif"])
    assert planned == ["a.tif", None, "a-2.tif", "kept-2.tif"]
    # the third lands first: it still gets its reserved name, the first keeps the plain one
    assert names.renamer("a.tif", planned[2])("a.tif") == "a-2.tif"
    assert names.renamer("a.tif", planned[0])("a.tif") == "a.tif"
    # a name only the server tells is taken the moment it is asked for
    assert names.renamer(None, None)("a.tif") == "a-3.tif"
    assert names.renamer(None, None)("b.tif") == "b.tif"
    # a server that names the file otherwise than foreseen gets a free name, not a twin
    assert names.renamer("c.tif", names.take("c.tif"))("b.tif") == "b-2.tif"


def test_the_items_progress_is_the_sum_and_its_total_known_once_every_size_is() -> None:
    tally = AssetTally.of([100, None, 50])
    tally.kept(0, 100)
    tally.progressed(2, 20)
    assert (tally.bytes_done, tally.bytes_total) == (120, None)
    tally.sized(1, 30)
    tally.progressed(1, 10)
    assert (tally.bytes_done, tally.bytes_total) == (130, 180)
    tally.sized(2, 60)  # the server's size overrides the platform's
    assert tally.bytes_total == 190


async def test_the_first_failure_is_raised_as_itself_and_stops_the_rest() -> None:
    started: list[int] = []

    async def work(index: int) -> None:
        started.append(index)
        if index == 1:
            raise ValueError("asset 1")
        await anyio.sleep(30)

    with anyio.fail_after(10), pytest.raises(ValueError, match="asset 1"):
        await in_order([0, 1, 2, 3, 4], work, width=3)
    assert started == [0, 1, 2]


async def test_the_cancellations_a_failure_caused_are_not_the_failure() -> None:
    cancelled = anyio.get_cancelled_exc_class()
    boom = OSError("disk")
    group = BaseExceptionGroup("g", [cancelled(), ExceptionGroup("h", [boom]), KeyError()])
    assert first_failure(group) is boom


async def test_renewals_asked_together_share_one_listing_and_a_stale_one_lists_again() -> None:
    from downloader.providers._relist import Relisting

    listed: list[int] = []
    opened = anyio.Event()

    async def listing() -> dict[str, str]:
        listed.append(len(listed))
        await opened.wait()  # every renewal below asks while this listing is under way
        return {f: f"https://files.test/{f}?v={len(listed)}" for f in ("a", "b", "c")}

    relisting = Relisting(listing)
    renew = {f: relisting.renewer(f, lambda: LookupError("gone")) for f in ("a", "b", "c", "x")}
    got: dict[str, str] = {}

    async def ask(file_id: str) -> None:
        got[file_id] = await renew[file_id]()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for f in ("a", "b", "c"):
                tg.start_soon(ask, f)
            await anyio.wait_all_tasks_blocked()
            opened.set()
    assert listed == [0]
    assert got == {f: f"https://files.test/{f}?v=1" for f in ("a", "b", "c")}
    # "a" holds the newest listing's URL and asks again: that one expired too
    assert await renew["a"]() == "https://files.test/a?v=2"
    assert listed == [0, 1]
    # a file the listing no longer offers fails as the provider says
    with pytest.raises(LookupError, match="gone"):
        await renew["x"]()
