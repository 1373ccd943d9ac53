"""One asset's transfer: the shell that runs the core's decisions with real effects.

`Transfer.run` looks at the work files in a worker thread (a checkpoint resumes),
probes when there is none, plans, holds a body too small to checkpoint in memory or
opens its data file (a worker thread again), waits for room, runs the segments
(`_streams`, each a `_life.StreamLife`), the recorder and the hash follower (`_record`)
side by side, then verifies and promotes (`_finish`).  What a failure leads to (a
restart, a refetch, the end, and whether the work files stay) is `_course.Course`'s to
say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import structlog

from downloader.errors import DownloaderError, EncodedBody, TransferError, VerificationError
from downloader.transfer._answers import promised_type
from downloader.transfer._checkpoint import Checkpoint, WorkFiles
from downloader.transfer._course import (
    Course,
    Next,
    Plan,
    Record,
    Recorder,
    needs_follower,
    room_needed,
)
from downloader.transfer._finish import finish
from downloader.transfer._flow import FileFlow
from downloader.transfer._hashers import MultiHasher
from downloader.transfer._life import Known
from downloader.transfer._plan import Segment
from downloader.transfer._record import checkpoint, follow_hash, record, report, widen, written
from downloader.transfer._request import AssetRequest, FetchResult
from downloader.transfer._sink import Sink
from downloader.transfer._sources import Slot, UrlSource
from downloader.transfer._split import first_lanes
from downloader.transfer._streams import Restart, first_error, probe_new_file, run_segment
from downloader.transfer._urls import redact_url
from downloader.transfer._writer import DataFile, HeldFile, PrefixHash

if TYPE_CHECKING:
    from downloader.transfer._engine import TransferEngine

log = structlog.get_logger("downloader.transfer")


class Transfer:
    """The state of one asset's transfer, shared by the tasks that move it."""

    def __init__(self, engine: TransferEngine, request: AssetRequest, files: WorkFiles) -> None:
        self.e = engine
        self.request = request
        self.files = files
        self.urls = UrlSource(request)
        self.course = Course(engine.retry)
        self.cp: Checkpoint | None = None
        self.data: DataFile | None = None
        self.flow: FileFlow | None = None  # the data path of the attempt under way
        self.received = 0
        now = engine.clock.monotonic()
        self.recorder = Recorder(0, engine.checkpoint_every, engine.checkpoint_interval, now, now)
        self.report_due = self.save_due = self.sync_due = False
        self.marks: list[int] = []  # bytes on disk each time a save or checkpoint was due
        self.progress = anyio.Event()
        self.record_wanted = anyio.Event()
        self.lanes = anyio.CapacityLimiter(first_lanes(engine.limits.segments))
        self.front = PrefixHash(MultiHasher())
        self.promised = promised_type(request.media_type, None)
        self.encoding: str | None = None  # a content coding applied though identity was asked
        self.status = 200  # of the answer the file's first bytes came from

    @property
    def plan(self) -> Plan:
        assert self.cp is not None
        cp = self.cp
        return Plan(cp.total, cp.validator, cp.ranges_supported, cp.segments)

    @property
    def offered(self) -> list[tuple[str, str, str]]:
        assert self.cp is not None
        return self.cp.offered

    def redacted(self) -> str | None:
        return redact_url(self.request.url) if self.request.url else None

    def expected(self) -> list[tuple[str, str, str]]:
        """Every (algorithm, hex, source) the bytes must agree with."""
        assert self.cp is not None
        own = [(d.algorithm, d.hex(), d.source) for d in self.request.expected_digests]
        return own + list(self.cp.offered)

    def wrote(self, size: int) -> None:
        """`size` more bytes are on disk: progress, and maybe a save or a checkpoint due."""
        self.received += size
        self.course.wrote()
        self.progress.set()
        now = self.e.clock.monotonic()
        due = self.recorder.wrote(size, now)
        if due is None:
            return
        # counted from now, and told as what is on disk now: the recorder may run a few
        # buffers later, when bytes land faster than the loop comes round to it
        if due is Record.SYNC:
            self.recorder.synced(now)
            self.sync_due = True
        else:
            self.recorder.saved(now)
            self.save_due = True
        self.marks.append(written(self))
        self.record_wanted.set()

    # ---- the outer loop: restarts and verification retries -----------------
    async def run(self, dest_dir: Path, rename: Callable[[str], str] | None) -> FetchResult:
        try:
            return await self._run(dest_dir, rename)
        finally:
            self.e.space.release(self.request.key)

    async def _run(self, dest_dir: Path, rename: Callable[[str], str] | None) -> FetchResult:
        while True:
            # file-system calls go to a worker thread: on a slow disk a mkdir or an
            # unlink takes milliseconds, and many small transfers run side by side
            self.cp = await anyio.to_thread.run_sync(self.files.prepare)
            try:
                return await self._attempt(dest_dir, rename)
            except Restart as restart:
                log.info("transfer.restart", key=self.request.key, reason=restart.reason)
                await self._discard()
                step, error = self.course.after_restart(restart.reason, self.redacted())
                if error is not None:
                    raise error from None
            except TransferError as exc:
                size = None if self.cp is None else self.cp.total
                step = self.course.after(exc)
                if isinstance(exc, VerificationError) and not isinstance(exc, EncodedBody):
                    log.warning("transfer.verify_failed", key=self.request.key, error=str(exc))
                if not Course.keeps_files(exc):
                    await self._discard()
                if step is not Next.REFETCH:
                    raise
                if self.request.on_refetch is not None:
                    await self.request.on_refetch(str(exc), size)
            except OSError:  # the disk, not the network: keep what is there, close the file
                if self.data is not None:
                    data, self.data = self.data, None
                    await anyio.to_thread.run_sync(data.close)
                raise

    async def _discard(self) -> None:
        data, self.data, self.cp = self.data, None, None
        files = self.files

        def discard() -> None:
            if data is not None:
                data.close()
            files.reset()

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(discard)

    def _open_on_disk(self, fresh: bool) -> tuple[DataFile, Sink]:
        """The data file opened (made anew when `fresh`, after its first checkpoint is
        saved) with its sink: the file-system calls of a start, in one worker thread."""
        assert self.cp is not None
        if fresh and self.plan.keeps_checkpoint:
            self.files.save(self.cp)
        data = DataFile(self.files.open_data(fresh=fresh))
        try:
            return data, Sink(data.fd, direct=True)
        except BaseException:
            data.close()
            raise

    async def _attempt(self, dest_dir: Path, rename: Callable[[str], str] | None) -> FetchResult:
        first: Slot | None = None
        fresh = self.cp is None  # no checkpoint to resume: nothing of it on disk
        if fresh:
            first = await probe_new_file(self)
        assert self.cp is not None
        data: DataFile
        sink = None
        if fresh and self.plan.fits_in_memory:
            data = HeldFile(self.cp.total or 0)
        else:
            try:
                data, sink = await anyio.to_thread.run_sync(self._open_on_disk, fresh)
            except BaseException:
                if first is not None:
                    first.release()
                raise
        self.data = data
        first = await self._room_for_rest(first)
        self.front = PrefixHash(MultiHasher(a for a, _, _ in self.expected()))
        self.recorder.save_every = self.plan.save_every
        self.flow = FileFlow(self, data, sink)
        segments = self.cp.segments
        pending = [s for s in segments if not s.done]
        known = Known(self.cp.total, self.cp.validator, self.cp.ranges_supported)
        known.signed = self.request.refresh_url is not None
        follow = needs_follower(segments)
        # the cursors of a held or small file are not saved, and its progress is told
        # at the end
        recording = not (self.plan.is_small or isinstance(self.data, HeldFile))
        try:
            if len(pending) == 1 and not (follow or recording):
                # one small stream and nothing to run beside it: no task group
                only, first = first, None
                await self._run_segment(pending[0], known, only)
            else:
                async with anyio.create_task_group() as tg:
                    if follow:
                        tg.start_soon(follow_hash, self)
                    if recording:
                        tg.start_soon(record, self)
                    widening = anyio.CancelScope()
                    if len(pending) > 1:
                        tg.start_soon(widen, self, widening)
                    async with anyio.create_task_group() as streams:
                        for segment in pending:
                            streams.start_soon(self._run_segment, segment, known, first)
                            first = None
                    widening.cancel()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        finally:
            if first is not None:
                first.release()
            with anyio.CancelScope(shield=True):
                broken = await self._close_flow()
            if not all(s.done for s in segments):  # else promotion syncs it all
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await checkpoint(self)
                    # what is on disk is told once more on the way out (a stop, a
                    # failure), at best effort: the error being raised matters more
                    with contextlib.suppress(DownloaderError):
                        await report(self)
        if broken is not None:  # the last bytes could not be written: the disk, not the net
            raise broken
        await report(self)
        return await finish(self, dest_dir, rename)

    async def _close_flow(self) -> OSError | None:
        """Everything handed over written and hashed, the threads stopped; the error of
        a write that failed, if one did."""
        if self.flow is None:
            return None
        flow, self.flow = self.flow, None
        await flow.close()
        return flow.path.error

    async def _room_for_rest(self, first: Slot | None) -> Slot | None:
        """Room for every byte the file still needs, when its size is known, before the
        first write: a file larger than the free space waits here (no connection held
        open meanwhile) instead of filling the disk first; one that never fits fails."""
        assert self.cp is not None
        total = self.cp.total if self.cp.total is not None else self.request.expected_size
        need = room_needed(total, self.cp.segments)
        if need is None or self.e.space.reserve(need, key=self.request.key):
            return first
        if first is not None:
            first.release()
        try:
            await self.e.space.room_for_file(need, self.request.on_wait, key=self.request.key)
        except BaseException:  # a file that never fits, or a stop while waiting
            if self.data is not None:
                data, self.data = self.data, None
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(data.close)
            raise
        return None

    async def _run_segment(self, segment: Segment, known: Known, first: Slot | None) -> None:
        """One segment; at most `Limits.segments` of a file run at once, in file order."""
        try:
            if first is not None:
                # the first segment always finds a free lane: it holds the probe's answer
                self.lanes.acquire_nowait()
            else:
                await self.lanes.acquire()
            try:
                await run_segment(self, segment, known, first)
            finally:
                self.lanes.release()
        finally:
            self.record_wanted.set()  # the recorder ends once every segment is done
