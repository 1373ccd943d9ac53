"""Beside a transfer's streams: its cursors saved and checkpointed when `_course.Recorder`
says so, its progress told, and its hash following the contiguous prefix on disk.

A save records the written cursors without a sync; a checkpoint syncs first and
records them as durable (see `_checkpoint`).  Both run in tasks of their own, so a
stream never waits for an fdatasync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import structlog

from downloader.transfer._checkpoint import current_boot_id
from downloader.transfer._plan import contiguous_end
from downloader.transfer._space import is_disk_full
from downloader.transfer._split import WINDOW, lanes_wanted
from downloader.transfer._writer import HeldFile

if TYPE_CHECKING:
    from downloader.transfer._transfer import Transfer

log = structlog.get_logger("downloader.transfer")


async def record(t: Transfer) -> None:
    """Checkpoint or save the cursors whenever a write asks, until every segment is done."""
    assert t.cp is not None
    segments = t.cp.segments
    while True:
        # what is told is what was on disk when each save was asked for: a fast
        # stream may well have ended by the time the sync or the save returns
        marks, t.marks = t.marks, []
        if t.sync_due:
            t.sync_due = t.save_due = False
            await checkpoint(t)
        elif t.save_due:
            t.save_due = False
            await save(t)
        elif all(s.done for s in segments):
            return
        else:
            t.record_wanted = anyio.Event()
            if not (t.sync_due or t.save_due or all(s.done for s in segments)):
                await t.record_wanted.wait()
            continue
        if t.report_due:
            for done in marks or [written(t)]:
                await report(t, done)


async def save(t: Transfer) -> None:
    """Record the written cursors without a sync (see `checkpoint` for why that is safe)."""
    assert t.cp is not None
    t.report_due = True
    if not t.plan.keeps_checkpoint:
        return
    t.cp.boot_id = current_boot_id()
    # the text is taken here, on the loop: a consistent snapshot of the cursors
    try:
        await anyio.to_thread.run_sync(t.files.write, t.cp.to_json())
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        # the last saved cursors stay valid: a resume fetches a little more, nothing is lost
        log.warning("transfer.checkpoint_deferred", key=t.request.key, error=str(exc))


async def checkpoint(t: Transfer) -> None:
    if t.cp is None or t.data is None:
        return
    if not t.plan.keeps_checkpoint:
        await save(t)  # only reports progress
        return
    # cursors taken before the sync: bytes written while it runs are not covered by it
    cursors = [segment.pos for segment in t.cp.segments]
    await anyio.to_thread.run_sync(t.data.sync)
    t.cp.durable = cursors
    await save(t)


def written(t: Transfer) -> int:
    """Bytes written so far, over every segment."""
    assert t.cp is not None
    return sum(segment.pos - segment.start for segment in t.cp.segments)


async def report(t: Transfer, done: int | None = None) -> None:
    """Tell the caller `done` bytes (by default, what is written now)."""
    if t.request.on_progress is None or t.cp is None:
        return
    t.report_due = False
    if t.request.on_size is not None and t.cp.total is not None:
        t.request.on_size(t.cp.total)
    await t.request.on_progress(written(t) if done is None else done)


async def follow_hash(t: Transfer) -> None:
    """Hash from disk what no write handed over, as the contiguous prefix grows.

    Runs beside the streams, not in their path, in a worker thread; a body held in
    memory is hashed here on the loop instead, as that takes less than handing it to
    a thread and back."""
    assert t.cp is not None
    segments = t.cp.segments
    front = t.front
    while True:
        target = contiguous_end(segments)
        if target > front.done:
            await catch_up(t, target)
            continue
        if all(s.done for s in segments):
            return
        t.progress = anyio.Event()
        if contiguous_end(segments) > front.done or all(s.done for s in segments):
            continue
        await t.progress.wait()


async def catch_up(t: Transfer, end: int) -> None:
    """Hash up to `end`: on the loop for a body held in memory, else from disk in a
    worker thread."""
    assert t.data is not None
    if isinstance(t.data, HeldFile):
        t.front.catch_up(t.data, end)
    else:
        await anyio.to_thread.run_sync(t.front.catch_up, t.data, end)


async def widen(t: Transfer, scope: anyio.CancelScope) -> None:
    """Open all of a split file's lanes once its stream is slow (see `_split`); the
    transfer cancels `scope` when its segments are over."""
    most = t.e.limits.segments
    with scope:
        # the loop's own time, which `sleep` keeps: the engine's clock may be a test's
        since, before, missed = anyio.current_time(), written(t), _misses(t)
        while t.lanes.total_tokens < most:
            await anyio.sleep(WINDOW)
            now, got, misses = anyio.current_time(), written(t), _misses(t)
            lanes = int(t.lanes.total_tokens)
            held = misses > missed
            wanted = lanes_wanted(lanes, most, got - before, now - since, held=held)
            if wanted > lanes:
                log.debug("transfer.split", key=t.request.key, lanes=wanted)
                t.lanes.total_tokens = wanted
            since, before, missed = now, got, misses


def _misses(t: Transfer) -> int:
    return 0 if t.flow is None else t.flow.ring.misses
