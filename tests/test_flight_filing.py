"""A slot is a file in flight, not an item's whole turn: an item whose files are all
fetched gives its slot to the next claim while it is filed, within a bound of its own."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from downloader.archive._commit import Syncer
from downloader.emulator import RunningEmulator
from downloader.runners._batch import run_batch
from downloader.runners._compose import open_service
from downloader.runners._flight import free_slots
from downloader.store import ItemState
from downloader.transfer import Limits
from tests.support.once import emulated

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
            result = await run_batch(
                refs,
                store=service.store,
                worker=service.worker,
                clock=service.clock,
                owner="test:once",
                concurrency=SLOTS,
            )
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
