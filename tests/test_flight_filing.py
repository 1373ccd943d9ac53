"""A slot is a file in flight, not an item's whole turn: an item whose files are all
fetched gives its slot to the next claim while it is filed, within a bound of its own."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from downloader.archive._commit import Syncer
from downloader.emulator import RunningEmulator
from downloader.runners._batch import run_batch
from downloader.runners._compose import open_service, run_once
from downloader.runners._flight import free_slots
from downloader.runners._policy import RUN
from downloader.runners._scheduler import Scheduler
from downloader.store import ItemState
from downloader.transfer import Limits
from tests.support.once import emulated
from tests.support.scheduler import batch_of

JOBS = 4
SLOTS = 2

SCENARIO = '[emulator]\nseed = 6\nscale_token = "t"\n' + "".join(
    f'\n[[scale.job]]\nid = {70 + i}\nfiles = [{{ name = "f-{i}.bin", size = 65536 }}]\n'
    for i in range(JOBS)
)


@pytest.mark.parametrize(
    ("fetching", "held", "free"),
    [
        (0, 0, 2),  # nothing held: every slot
        (2, 2, 0),  # every slot fetching
        (0, 2, 2),  # two being filed hold no slot
        (1, 3, 1),  # two filed, one fetching: one slot left
        (0, 4, 0),  # as many filed again as there are slots: the bound of the held
        (1, 4, 0),
        (2, 5, 0),  # never below nothing
    ],
)
def test_a_slot_is_free_while_fewer_fetch_and_the_held_stay_within_twice(
    fetching: int, held: int, free: int
) -> None:
    assert free_slots(SLOTS, fetching, held) == free


class GatedSyncer(Syncer):
    """Holds each bag's folder sync until the file host has been asked for every job's
    file (or `deadline` seconds passed, counted in `waited_out`): a bag being filed
    while the other items' files are fetched."""

    def __init__(self, running: RunningEmulator, deadline: float) -> None:
        self.running, self.deadline = running, deadline
        self.waited_out = 0
        self.synced = 0
        self._lock = threading.Lock()

    def folder(self, fd: int) -> None:
        ends = time.monotonic() + self.deadline
        while len({r.path for r in self.running.emulator.files.log}) < JOBS:
            if time.monotonic() > ends:
                with self._lock:
                    self.waited_out += 1
                break
            time.sleep(0.01)
        with self._lock:
            self.synced += 1
        super().folder(fd)


async def test_items_being_filed_leave_their_slots_to_the_next_files(tmp_path: Path) -> None:
    # two slots, four one-file jobs, each bag's sync held until all four files were
    # asked for: only if the first two give up their slots while being filed do the
    # last two get fetched before the first two are done
    async with emulated(tmp_path, SCENARIO) as (running, settings, refs):
        limits = Limits(max_concurrent=SLOTS)
        transfer = dataclasses.replace(settings.transfer, limits=limits)
        settings = dataclasses.replace(settings, transfer=transfer)
        async with open_service(settings, "test:once") as service:
            gate = GatedSyncer(running, deadline=10.0)
            service.worker.syncer = gate
            result = await batch_of(service, refs, owner="test:once", concurrency=SLOTS)
            records = await service.store.list_items()
        assert gate.waited_out == 0
        assert gate.synced >= JOBS
        # the files in flight stayed within the slots all along
        assert running.emulator.files.gathering.most <= SLOTS
    assert (result.archived, result.failed) == (JOBS, 0)
    assert {r.state for r in records} == {ItemState.ARCHIVED}
    assert all(r.lease_owner is None for r in records)


async def test_one_connection_serves_item_after_item_and_is_closed_with_the_service(
    tmp_path: Path,
) -> None:
    # one slot: no file is in flight between one item's fetch and the next's, and the
    # connection of the first still serves the last
    async with emulated(tmp_path, SCENARIO) as (_, settings, refs):
        limits = Limits(max_concurrent=1)
        transfer = dataclasses.replace(settings.transfer, limits=limits)
        settings = dataclasses.replace(settings, transfer=transfer)
        async with open_service(settings, "test:once") as service:
            result = await run_batch(
                refs,
                store=service.store,
                worker=service.worker,
                clock=service.clock,
                owner="test:once",
                concurrency=1,
            )
            pool = service.worker.engine.pool
            kept = sum(len(conns) for conns in pool._idle.values())
        assert (result.archived, pool.opened, kept) == (JOBS, 1, 1)
        # the service's end closed it: no socket is left to the garbage collector
        assert not pool._idle


class SlowSyncer(Syncer):
    """Each bag's folder syncs take `seconds` in all: a filing longer than a lease."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def folder(self, fd: int) -> None:
        time.sleep(self.seconds / 2)  # a bag's folder is synced twice: staged, then moved
        super().folder(fd)


async def test_an_item_being_filed_keeps_its_lease_however_long_its_filing(
    tmp_path: Path,
) -> None:
    # a lease of 1 s, each bag 2.5 s in filing: were the items being filed not renewed,
    # their leases would run out and the free slots claim them again
    with capture_logs() as logs:
        async with emulated(tmp_path, SCENARIO) as (running, settings, refs):
            async with open_service(settings, "test:once") as service:
                service.worker.syncer = SlowSyncer(2.5)
                result = await batch_of(
                    service, refs, owner="test:once", concurrency=SLOTS, lease=timedelta(seconds=1)
                )
            paths = [r.path for r in running.emulator.files.log]
    assert (result.archived, result.failed) == (JOBS, 0)
    assert len(paths) == len(set(paths)) == JOBS  # each file fetched once
    assert not [e for e in logs if e["event"] in ("item.lease_lost", "item.stopped")]


async def test_the_grace_period_reaches_an_item_being_filed(tmp_path: Path) -> None:
    # stopped with no grace while items are filed (holding no slot): they are cancelled
    # and waited for like the fetching ones, their leases released, and the next run
    # takes up whatever is left
    with capture_logs() as logs:
        async with emulated(tmp_path, SCENARIO) as (_, settings, refs):
            async with open_service(settings, "test:run") as service:
                service.worker.syncer = SlowSyncer(1.0)
                scheduler = Scheduler(
                    store=service.store,
                    worker=service.worker,
                    clock=service.clock,
                    owner="test:run",
                    concurrency=SLOTS,
                    policy=RUN,
                )
                await scheduler.set_watchlist(refs)
                filed: frozenset[str] = frozenset()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(scheduler.run)
                    with anyio.fail_after(30):
                        while not filed:
                            await anyio.sleep(0.01)
                            filed = scheduler.flight.filing()
                    scheduler.stop(0.0)
                assert not scheduler.in_flight
                records = {r.key: r for r in await service.store.list_items()}
                first = list(logs)
            again = await run_once(settings, refs)
    stopped = {e["item"] for e in first if e["event"] == "item.stopped"}
    archived = {e["item"] for e in first if e["event"] == "item.archived"}
    # its bag's finish is shielded (a bag half moved is never left): it ends archived,
    # else stopped; either way the scheduler's run waited for it and no lease is left
    assert filed <= stopped | archived
    assert all(e["reason"] == "grace period over" for e in first if e["event"] == "item.stopped")
    assert all(r.lease_owner is None for r in records.values())
    assert (again.archived, again.failed) == (JOBS, 0)
