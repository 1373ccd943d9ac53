"""The transfer engine: the I/O shell around the pure planning in `_plan`.

One `TransferEngine.fetch()` call moves one asset from a URL into a final path:
it streams into `<partial>/transfers/<key hash>.part`, checkpoints segment
cursors (`<key hash>.json`), hashes the contiguous prefix as it grows (bytes written
where the prefix ends as they are written, the rest read back, so the digest is ready
when the last byte lands and a resumed file is hashed from what is on disk), checks
size and every digest on offer, and only then fsyncs and renames the file into
place.  Failures are classified by `_backoff.classify_status` and retried under
`RetryPolicy`; every sleep goes through the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin

import aiohttp
import anyio
import structlog
from aiohttp.http_exceptions import HttpProcessingError

from downloader.clock import Clock
from downloader.errors import (
    DigestMismatch,
    DownloaderError,
    EncodedBody,
    ErrorBody,
    HTTPStatusError,
    NetworkError,
    ObjectChanged,
    ProtocolViolation,
    SizeMismatch,
    StallTimeout,
    TransferError,
    UnsafeRedirect,
    URLExpired,
    VerificationError,
)
from downloader.jail import Jail
from downloader.transfer._answers import promised_type, promises_start
from downloader.transfer._backoff import (
    RetryVerdict,
    classify_status,
    next_delay,
    parse_retry_after,
)
from downloader.transfer._boundary import read_excerpt, scheme_of, translate
from downloader.transfer._checkpoint import (
    Checkpoint,
    WorkFiles,
    current_boot_id,
    work_files_for,
)
from downloader.transfer._digests import (
    ExpectedDigest,
    MultiHasher,
    parse_digest_headers,
    to_hex,
)
from downloader.transfer._names import choose_filename, sanitize_filename
from downloader.transfer._placement import CpuPlacement
from downloader.transfer._plan import (
    Judgement,
    Segment,
    Verdict,
    contiguous_end,
    judge_response,
    plan_segments,
)
from downloader.transfer._policy import Limits, MiB, RetryPolicy, Timeouts
from downloader.transfer._ratelimit import Throttle
from downloader.transfer._space import SpaceGuard, is_disk_full
from downloader.transfer._tls import describe_tls_failure
from downloader.transfer._urls import host_key, redact_url, same_origin
from downloader.transfer._vet import check_first, check_start, coding_of
from downloader.transfer._writer import DataFile, PrefixHash, promote

log = structlog.get_logger("downloader.transfer")

WRITE_BATCH = 256 * 1024  # received bytes gathered for one pwritev
INLINE_HASH = WRITE_BATCH  # files this small are hashed on the loop, not in a worker thread
CHECKPOINT_EVERY = 8 * MiB  # fdatasync and record durable cursors this often...
SAVE_EVERY = 2 * MiB  # ...and save the written cursors (no sync) this often
SAVE_INTERVAL = 0.05
FLUSH_INTERVAL = 0.05  # a slow stream's buffer reaches the file at least this often
MAX_REDIRECTS = 10


@dataclass(frozen=True)
class AssetRequest:
    """What to fetch.  `key` names the asset stably across runs (URLs may change)."""

    key: str
    url: str | None = None
    refresh_url: Callable[[], Awaitable[str]] | None = None
    expected_size: int | None = None
    expected_digests: Sequence[ExpectedDigest] = ()
    filename: str | None = None
    fallback_name: str = "download"
    on_progress: Callable[[int], Awaitable[None]] | None = None
    """Told the bytes of the asset on disk, at most every `SAVE_INTERVAL` and at the end."""
    on_size: Callable[[int], None] | None = None
    """Told the asset's size, once the server said it, before each `on_progress`."""
    name_from_url: bool = True
    """Whether the URL's last path segment may name the file when Content-Disposition
    does not; False for API endpoints whose paths end in an id, not a file name."""
    on_wait: Callable[[str | None], Awaitable[None]] | None = None
    """Told why the transfer waits without failing (a full disk), then None when it goes on."""
    headers: Callable[[], Awaitable[Mapping[str, str]]] | None = None
    """Extra request headers (e.g. a bearer token), asked for before every request, so a
    token refreshed by `refresh_url` after a 401 is picked up at once."""
    on_refetch: Callable[[str, int | None], Awaitable[None]] | None = None
    """Told of each whole-file re-download after a failed verification, as it begins:
    the failure's text and the file's size (None when not known)."""
    media_type: str | None = None
    """What the platform promised the asset as (`application/zip`...), if it said.  An
    HTML, XML or JSON answer instead is an error page, not the file (see `_answers`)."""
    on_retry: Callable[[str], None] | None = None
    """Told of each retry after a passing failure (reset, stall, 5xx), with its text."""


@dataclass(frozen=True)
class FetchResult:
    path: Path
    name: str
    size: int
    sha256: str
    digests: dict[str, str]
    verified_by: tuple[str, ...]
    bytes_received: int
    head: bytes = b""
    """The file's first bytes (up to `HEAD_BYTES`), enough to tell a ZIP from a TIFF."""
    validator: str | None = None
    """What `If-Range` may carry to ask for a part of these very bytes again."""
    ranges_supported: bool = False
    """Whether the server answered a range with 206."""
    refetches: tuple[str, ...] = ()
    """The whole-file re-downloads after failed verifications, each the failure's text."""
    content_encoding: str | None = None
    """The content coding the server applied although identity was asked for (`gzip`):
    the bytes kept are the coded ones."""


HEAD_BYTES = 8


def _received_before_failure(stream: aiohttp.StreamReader, limit: int | None) -> bytes:
    """The body bytes aiohttp holds that a read will never return after the connection
    failed (its `read()` raises at once); at most `limit` of them.

    They are good bytes of the body, received in order before the failure, so a
    resume starts after them instead of asking for them again.  This reads a private
    buffer of aiohttp's `StreamReader` and gives up quietly if it is not there.
    """
    chunks = getattr(stream, "_buffer", None)
    offset = getattr(stream, "_buffer_offset", 0)
    if not chunks or not isinstance(offset, int):
        return b""
    data = b"".join(chunks)[offset:]
    return data if limit is None else data[: max(limit, 0)]


class _Restart(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _RetryBudget:
    """Counts retryable failures without progress; sleeps the backoff or gives up.

    A host that could not be reached at all before this budget saw progress is not
    waited for here: the failure goes to the item's own `[retry]` schedule, which
    frees the slot and spaces the tries of a host that is down.
    """

    def __init__(self, transfer: _Transfer) -> None:
        self._t = transfer
        self.attempts = 0
        self.ever_progressed = False

    def progressed(self) -> None:
        self.attempts = 0
        self.ever_progressed = True

    async def pause(self, exc: TransferError) -> None:
        engine = self._t.e
        if not exc.retryable:
            raise exc
        if isinstance(exc, NetworkError) and not exc.reached and not self.ever_progressed:
            raise exc
        self.attempts += 1
        if self.attempts > engine.retry.attempts:
            raise exc
        delay = next_delay(
            self.attempts - 1,
            retry_after=getattr(exc, "retry_after", None),
            base=engine.retry.backoff_base,
            cap=engine.retry.backoff_cap,
            rand=engine._rand,
            retry_after_cap=engine.retry.retry_after_cap,
        )
        log.info("transfer.retry", key=self._t.request.key, error=str(exc), delay=round(delay, 3))
        if self._t.request.on_retry is not None:
            self._t.request.on_retry(str(exc))
        await engine._clock.sleep(delay)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that explains a failed task group best."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    for kind in (_Restart, VerificationError, TransferError):
        for exc in leaves:
            if isinstance(exc, kind):
                return exc
    return leaves[0]


class _Live:
    """A body being read: the chunks it took so far, what the watchdog saw of them and
    since when, and the scope the watchdog cancels."""

    __slots__ = ("count", "scope", "seen", "since")

    def __init__(self, now: float) -> None:
        self.count = 0
        self.seen = 0
        self.since = now
        self.scope = anyio.CancelScope()


class _StallWatch:
    """Cancels every body read of the engine that took no chunk for `stall` seconds.

    One timer for all the engine's transfers looks at the reads a few times per
    stall period, and only while some read is going on: a read costs one counter
    increment per chunk, instead of a timer re-armed per chunk or a task per
    transfer.  Real time, like the network it watches: not the injected clock.
    """

    def __init__(self, stall: float) -> None:
        self.stall = stall
        self.live: set[_Live] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, live: _Live) -> None:
        self.live.add(live)
        if self.stall <= 0:
            return
        loop = asyncio.get_running_loop()
        if self._timer is None or self._loop is not loop:
            self._arm(loop)

    def discard(self, live: _Live) -> None:
        self.live.discard(live)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer = loop.call_later(max(self.stall / 4, 0.005), self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self.live:
            return  # the next read re-arms it
        now = loop.time()
        for live in self.live:
            if live.count != live.seen:
                live.seen, live.since = live.count, now
            elif now - live.since >= self.stall:
                live.scope.cancel()  # a second cancel of the same read does nothing
        self._arm(loop)


class _Slot:
    """One connection slot of a host, held from the request to the end of its body.

    The probe's slot passes to segment 0 together with its response, so the
    per-host limit counts every connection, the first one included.
    """

    def __init__(self, limiter: anyio.CapacityLimiter) -> None:
        self._limiter = limiter
        self._held = False
        self.resp: aiohttp.ClientResponse | None = None

    async def acquire(self) -> None:
        await self._limiter.acquire_on_behalf_of(self)
        self._held = True

    def release(self) -> None:
        if self.resp is not None:
            self.resp.close()
        if self._held:
            self._held = False
            self._limiter.release_on_behalf_of(self)


class _UrlSource:
    """The current URL of an asset, refreshed once for all segments when it expires."""

    def __init__(self, request: AssetRequest) -> None:
        self._request = request
        self._url = request.url
        self.generation = 0
        self._lock = anyio.Lock()

    async def get(self) -> tuple[str, int]:
        if self._url is None:
            await self.refresh(self.generation)
        assert self._url is not None
        return self._url, self.generation

    async def refresh(
        self,
        seen_generation: int,
        *,
        may_renew: Callable[[], bool] = lambda: True,
        status: int = 403,
        detail: str = "",
    ) -> bool:
        """Renew the URL seen at `seen_generation`; False when `may_renew` says no.

        Segments refused together renew it once: the others find it renewed already
        (also while the renewal is under way) and are not counted again.
        """
        async with self._lock:
            if seen_generation != self.generation and self._url is not None:
                return True  # another segment already refreshed it
            if self._request.refresh_url is None:
                raise URLExpired(status, url=redact_url(self._url or ""), detail=detail)
            if not may_renew():
                return False
            self._url = await self._request.refresh_url()
            self.generation += 1
            return True


class TransferEngine:
    """Fetches assets; one instance is shared by every transfer of a process."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        partial_root: Path,
        limits: Limits | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock,
        rand: Callable[[], float] = random.random,
        checkpoint_every: int = CHECKPOINT_EVERY,
        checkpoint_interval: float = 0.5,
        space: SpaceGuard | None = None,
        placement: CpuPlacement | None = None,
        jail: Jail | None = None,
    ) -> None:
        self._session = session
        self.partial_root = partial_root
        # every file the engine makes lies below the archive root: walked from there,
        # a link planted on the way is refused, never followed
        self.jail = jail or Jail(partial_root.parent)
        self.limits = limits or Limits()
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._rand = rand
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self._files = anyio.CapacityLimiter(self.limits.max_concurrent)
        self._hosts: dict[str, anyio.CapacityLimiter] = {}
        self._throttle = Throttle(self.limits.bandwidth_limit, clock)
        self.space = space or SpaceGuard(partial_root, self.limits.min_free_space, clock)
        # the process's threads share one CPU but while a file of at least
        # `segment_min_size` is in flight (see `_placement`)
        self.placement = placement
        # no per-read timer in aiohttp: it would be re-armed for every chunk received.
        # A silent body is caught by the engine's `_StallWatch`, and a server that
        # never sends its headers by the deadline around the request in `_Transfer._open`.
        self._stalls = _StallWatch(self.timeouts.stall)
        self._http_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeouts.connect, sock_read=None
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session every transfer uses (a repair's ranged GET too)."""
        return self._session

    def _host_limiter(self, url: str) -> anyio.CapacityLimiter:
        key = host_key(url)
        limiter = self._hosts.get(key)
        if limiter is None:
            limiter = self._hosts[key] = anyio.CapacityLimiter(self.limits.max_per_host)
        return limiter

    async def fetch(
        self,
        request: AssetRequest,
        dest_dir: Path,
        *,
        rename: Callable[[str], str] | None = None,
    ) -> FetchResult:
        """Fetch `request` into `dest_dir/<name>`; the final name holds only verified bytes.

        `<name>` is the one the request or the server gives, or what `rename` makes of
        it when given (called once, just before the verified file is moved there).
        """
        async with self._files:
            files = work_files_for(self.partial_root, request.key, self.jail)
            transfer = _Transfer(self, request, files)
            return await transfer.run(dest_dir, rename)


class _Transfer:
    """One asset's transfer: plan, segments, hasher, verification, promotion."""

    def __init__(self, engine: TransferEngine, request: AssetRequest, files: WorkFiles) -> None:
        self.e = engine
        self.request = request
        self.files = files
        self.urls = _UrlSource(request)
        self.cp: Checkpoint | None = None
        self.data: DataFile | None = None
        self.received = 0
        self.since_checkpoint = 0
        self.since_save = 0
        self.checkpointed_at = self.saved_at = engine._clock.monotonic()
        self.report_due = False
        self.progress = anyio.Event()
        self.refreshes_without_progress = 0
        self.save_due = False
        self.sync_due = False
        self.record_wanted = anyio.Event()
        self.lanes = anyio.CapacityLimiter(engine.limits.segments)
        self.front = PrefixHash(MultiHasher())
        self.large = False  # counted by the engine's placement as a large transfer
        self.refetches: list[str] = []  # why each failed verification fetched it all again
        self.promised = promised_type(request.media_type, None)
        self.encoding: str | None = None  # a content coding applied though identity was asked
        self.status = 200  # of the answer the file's first bytes came from

    # ---- the outer loop: restarts and verification retries -----------------
    async def run(self, dest_dir: Path, rename: Callable[[str], str] | None) -> FetchResult:
        try:
            return await self._run(dest_dir, rename)
        finally:
            self.e.space.release(self.request.key)
            if self.large and self.e.placement is not None:
                self.large = False
                self.e.placement.large_ended()

    def _note_size(self, size: int | None) -> None:
        """Count this transfer as large once its size or its bytes so far say so."""
        placement = self.e.placement
        if placement is None or self.large or size is None:
            return
        if size >= self.e.limits.segment_min_size:
            self.large = True
            placement.large_started()

    async def _run(self, dest_dir: Path, rename: Callable[[str], str] | None) -> FetchResult:
        restarts = 0
        verify_failures = 0
        while True:
            # file-system calls go to a worker thread: on a slow disk a mkdir or an
            # unlink takes milliseconds, and many small transfers run side by side
            self.cp = await anyio.to_thread.run_sync(self._open_or_reset)
            try:
                return await self._attempt(dest_dir, rename)
            except _Restart as restart:
                restarts += 1
                log.info("transfer.restart", key=self.request.key, reason=restart.reason)
                self._discard()
                if restarts > self.e.retry.restarts:
                    raise ObjectChanged(
                        f"gave up after {restarts} restarts: {restart.reason}",
                        url=self._redacted(),
                    ) from None
            except EncodedBody:
                self._discard()  # the host codes it every time: fetching it again is no use
                raise
            except ErrorBody:
                self._discard()  # an error page on disk is no start of the file
                raise
            except VerificationError as exc:
                verify_failures += 1
                log.warning("transfer.verify_failed", key=self.request.key, error=str(exc))
                size = None if self.cp is None else self.cp.total
                self._discard()
                if verify_failures > self.e.retry.verify_attempts:
                    raise
                self.refetches.append(str(exc))
                if self.request.on_refetch is not None:
                    await self.request.on_refetch(str(exc), size)
            except TransferError as exc:
                # the bytes of a signed URL refused are kept: a fresh URL goes on from them
                if not exc.retryable and not isinstance(exc, URLExpired):
                    self._discard()
                raise
            except OSError:  # the disk, not the network: keep what is there, close the file
                if self.data is not None:
                    self.data.close()
                    self.data = None
                raise

    def _open_or_reset(self) -> Checkpoint | None:
        """The saved checkpoint, or None with the work folder emptied for a fresh start."""
        cp = self.files.open_directory()
        if cp is None:
            self.files.reset()
        return cp

    def _discard(self) -> None:
        if self.data is not None:
            self.data.close()
            self.data = None
        self.files.reset()
        self.cp = None

    def _redacted(self) -> str | None:
        return redact_url(self.request.url) if self.request.url else None

    async def _attempt(self, dest_dir: Path, rename: Callable[[str], str] | None) -> FetchResult:
        first: _Slot | None = None
        if self.cp is None:  # `run` emptied the work folder
            first = await self._probe()
        assert self.cp is not None
        self._note_size(self.cp.total)
        self.data = DataFile.open_in(self.files.jail, self.files.data_rel)
        first = await self._room_for_rest(first)
        self.front = PrefixHash(MultiHasher(a for a, _, _ in self._expected_tuples()))
        segments = self.cp.segments
        pending = [s for s in segments if not s.done]
        # bytes no write hands to the hasher as they land: later segments, a resumed prefix
        follow = len(segments) > 1 or segments[0].pos > segments[0].start
        # the cursors of a small file are not saved, and its progress is told at the end
        record = not self._is_small()
        try:
            if len(pending) == 1 and not (follow or record):
                # one small stream and nothing to run beside it: no task group
                only, first = first, None
                await self._run_segment(pending[0], only)
            else:
                async with anyio.create_task_group() as tg:
                    if follow:
                        tg.start_soon(self._follow_hash)
                    if record:
                        tg.start_soon(self._record)
                    for segment in pending:
                        tg.start_soon(self._run_segment, segment, first)
                        first = None
        except BaseExceptionGroup as group:
            raise _first_error(group) from None
        finally:
            if first is not None:
                first.release()
            if not all(s.done for s in segments):  # else promotion syncs it all
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await self._checkpoint()
                    # what is on disk is told once more on the way out (a stop, a
                    # failure), at best effort: the error being raised matters more
                    with contextlib.suppress(DownloaderError):
                        await self._report()
        await self._report()
        return await self._finish(dest_dir, rename)

    async def _room_for_rest(self, first: _Slot | None) -> _Slot | None:
        """Room for every byte the file still needs, when its size is known, before the
        first write: a file larger than the free space waits here (no connection held
        open meanwhile) instead of filling the disk first; one that never fits fails."""
        assert self.cp is not None
        total = self.cp.total if self.cp.total is not None else self.request.expected_size
        if total is None:
            return first
        need = max(0, total - sum(s.pos - s.start for s in self.cp.segments))
        if self.e.space.reserve(need, key=self.request.key):
            return first
        if first is not None:
            first.release()
        try:
            await self.e.space.room_for_file(need, self.request.on_wait, key=self.request.key)
        except BaseException:  # a file that never fits, or a stop while waiting
            if self.data is not None:
                self.data.close()
                self.data = None
            raise
        return None

    def _is_small(self) -> bool:
        """A file of at most `INLINE_HASH` bytes: hashed on the loop, its cursors unsaved."""
        assert self.cp is not None
        return self.cp.total is not None and self.cp.total <= INLINE_HASH

    # ---- the first request decides the plan --------------------------------
    async def _probe(self) -> _Slot:
        whole = Segment(0, None)
        budget = _RetryBudget(self)
        while True:
            try:
                url, generation = await self.urls.get()
                slot = _Slot(self.e._host_limiter(url))
                await slot.acquire()
                try:
                    resp = slot.resp = await self._open(url, whole, validator=None)
                except BaseException:
                    slot.release()
                    raise
                judgement = self._judgement(resp, whole, fresh=True)
                if judgement.verdict is Verdict.WRITE:
                    try:
                        await check_first(resp, judgement.total, url, self.promised)
                    except BaseException:
                        slot.release()
                        raise
                    self.status = resp.status
                    self.encoding = coding_of(resp, self.encoding, self.request.key)
                    break
                detail = await read_excerpt(resp) if resp.status >= 400 else ""
                slot.release()
                if judgement.verdict is Verdict.RETRY and resp.status < 300:
                    raise ProtocolViolation(judgement.reason, url=redact_url(url))
                if judgement.verdict is Verdict.RESTART:  # 416 for bytes=0-
                    raise HTTPStatusError(resp.status, url=redact_url(url), detail="empty object")
                await self._handle_failure(
                    resp.status, resp.headers.get("Retry-After"), url, generation, detail
                )
            except TransferError as exc:
                await budget.pause(exc)
        total = judgement.total
        name = self.request.filename and sanitize_filename(self.request.filename)
        name = name or choose_filename(
            resp.headers.get("Content-Disposition"),
            str(resp.url) if self.request.name_from_url else None,
            self.request.fallback_name,
        )
        self.cp = Checkpoint(
            validator=judgement.validator,
            total=total,
            name=name,
            ranges_supported=judgement.ranges_supported,
            segments=plan_segments(
                total, self.e.limits, ranges_supported=judgement.ranges_supported
            ),
            offered=[],
        )
        self._collect_digests(resp, whole_body=True)
        if self._keeps_checkpoint():
            # not in a worker thread: the body is read as soon as possible, because
            # aiohttp drops what it buffered when the connection fails before a read
            self.files.save(self.cp)
        return slot

    @property
    def save_every(self) -> int:
        """Bytes between saves: `SAVE_EVERY`, or 1/256 of a large file.  A fast stream
        is saved every `SAVE_INTERVAL` anyway, so a kill loses as little time either way,
        and a large file is not saved (and its progress reported) hundreds of times."""
        assert self.cp is not None
        return max(SAVE_EVERY, (self.cp.total or 0) // 256)

    def _keeps_checkpoint(self) -> bool:
        """Whether cursors are worth saving: not for a file smaller than `SAVE_EVERY`,
        which a restart fetches again at less cost than saving its cursors."""
        assert self.cp is not None
        return self.cp.total is None or self.cp.total >= SAVE_EVERY

    # ---- one segment, with its own retry loop ------------------------------
    async def _run_segment(self, segment: Segment, first: _Slot | None) -> None:
        """Fetch one segment; at most `Limits.segments` of a file run at once, in file order."""
        try:
            if first is not None:
                # the first segment always finds a free lane, and reads the probe's body
                # without yielding: aiohttp drops what it buffered if the connection
                # fails before the first read
                self.lanes.acquire_nowait()
            else:
                await self.lanes.acquire()
            try:
                await self._fetch_segment(segment, first)
            finally:
                self.lanes.release()
        finally:
            self.record_wanted.set()  # the recorder ends once every segment is done

    async def _fetch_segment(self, segment: Segment, first: _Slot | None) -> None:
        assert self.cp is not None
        budget = _RetryBudget(self)
        while not segment.done:
            progress_before = segment.pos
            try:
                url, generation = await self.urls.get()
                if first is not None:
                    slot, first = first, None
                else:
                    slot = _Slot(self.e._host_limiter(url))
                    await slot.acquire()
                try:
                    if slot.resp is None:
                        slot.resp = await self._open(url, segment, validator=self.cp.validator)
                        if not await self._judge(slot.resp, segment, url, generation):
                            continue
                    ended = await self._stream(slot.resp, segment)
                finally:
                    slot.release()
                if ended and segment.end is None:
                    segment.end = segment.pos
                    self.cp.total = segment.pos
                elif not segment.done:
                    raise ProtocolViolation(
                        f"body ended at byte {segment.pos} of {segment.end}", url=redact_url(url)
                    )
            except TransferError as exc:
                if exc.retryable and not self.cp.ranges_supported:
                    raise _Restart(f"{exc}; server does not support ranges") from None
                if segment.pos > progress_before:
                    budget.progressed()
                await budget.pause(exc)

    async def _judge(
        self, resp: aiohttp.ClientResponse, segment: Segment, url: str, generation: int
    ) -> bool:
        """True when `resp` may be streamed into `segment`; otherwise it is closed."""
        assert self.cp is not None
        judgement = self._judgement(resp, segment, fresh=False)
        if judgement.verdict is Verdict.WRITE:
            whole = judgement.offset == 0 and judgement.length == self.cp.total
            self._collect_digests(resp, whole_body=whole)
            self.encoding = coding_of(resp, self.encoding, self.request.key)
            return True
        detail = await read_excerpt(resp) if resp.status >= 400 else ""
        resp.close()
        if judgement.verdict is Verdict.RESTART:
            raise _Restart(judgement.reason)
        if judgement.verdict is Verdict.RETRY and resp.status < 300:
            raise ProtocolViolation(judgement.reason, url=redact_url(url))
        await self._handle_failure(
            resp.status, resp.headers.get("Retry-After"), url, generation, detail
        )
        return False

    def _judgement(self, resp: aiohttp.ClientResponse, asked: Segment, *, fresh: bool) -> Judgement:
        """What `resp` to a request for `asked` means, given what is known of the object."""
        headers = resp.headers
        return judge_response(
            resp.status,
            content_range=headers.get("Content-Range"),
            content_length=headers.get("Content-Length"),
            etag=headers.get("ETag"),
            last_modified=headers.get("Last-Modified"),
            asked=asked,
            known_total=None if fresh or self.cp is None else self.cp.total,
            known_validator=None if fresh or self.cp is None else self.cp.validator,
            fresh=fresh,
        )

    async def _handle_failure(
        self, status: int, retry_after: str | None, url: str, generation: int, detail: str = ""
    ) -> None:
        """Turn an unusable status into a refresh, or raise the error to retry or fail on.

        `detail` is what the answer's body said, for the error's message."""
        signed = self.request.refresh_url is not None
        verdict = classify_status(status, signed_url=signed)
        if verdict is RetryVerdict.REFRESH_URL:

            def may_renew() -> bool:  # asked only when a fresh URL is really fetched
                self.refreshes_without_progress += 1
                return self.refreshes_without_progress <= self.e.retry.url_refreshes

            log.info("transfer.refresh_url", key=self.request.key, status=status, said=detail)
            renewed = await self.urls.refresh(
                generation, may_renew=may_renew, status=status, detail=detail
            )
            if not renewed:
                raise URLExpired(status, url=redact_url(url), detail=detail)
            return
        raise HTTPStatusError(
            status,
            url=redact_url(url),
            retryable=verdict is RetryVerdict.RETRY,
            retry_after=parse_retry_after(retry_after, now=self.e._clock.utcnow()),
            detail=detail,
        )

    # ---- HTTP --------------------------------------------------------------
    async def _open(
        self, url: str, segment: Segment, *, validator: str | None
    ) -> aiohttp.ClientResponse:
        credentials = dict(await self.request.headers()) if self.request.headers else {}
        headers = {**credentials, "Range": segment.range_header(), "Accept-Encoding": "identity"}
        if validator is not None:
            headers["If-Range"] = validator
        if scheme_of(url) not in ("http", "https"):  # file:, ftp:, data:, no URL at all...
            raise TransferError(
                f"refused to fetch {redact_url(url)!r}: only http and https URLs are fetched",
                url=redact_url(url),
            )
        timeouts = self.e.timeouts
        for _ in range(MAX_REDIRECTS + 1):
            try:
                # the response headers are due within the connect and stall timeouts
                with anyio.move_on_after(timeouts.connect + timeouts.stall) as waited:
                    resp = await self.e._session.get(
                        url,
                        headers=headers,
                        allow_redirects=False,
                        auto_decompress=False,
                        timeout=self.e._http_timeout,
                    )
                if waited.cancelled_caught:
                    raise StallTimeout(timeouts.stall, url=redact_url(url))
            except TimeoutError:
                raise StallTimeout(timeouts.connect, url=redact_url(url)) from None
            except aiohttp.ClientConnectorCertificateError as exc:  # no retry will fix it
                raise NetworkError(
                    describe_tls_failure(exc), url=redact_url(url), retryable=False
                ) from None
            # ValueError: a header the HTTP library will not send (a CR or LF in a token)
            except (aiohttp.ClientError, HttpProcessingError, ValueError) as exc:
                raise translate(exc, url) from None
            if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                resp.close()
                try:
                    target = urljoin(url, resp.headers["Location"])
                except ValueError:  # e.g. a bracketed host that is no IPv6 address
                    raise ProtocolViolation(
                        "redirect to a URL that cannot be read", url=redact_url(url)
                    ) from None
                if scheme_of(target) not in ("http", "https"):
                    raise UnsafeRedirect(redact_url(target), url=redact_url(url))
                if not same_origin(url, target):
                    for name in credentials:
                        headers.pop(name, None)
                url = target
                continue
            return resp
        raise TransferError("too many redirects", url=redact_url(url))

    async def _stream(self, resp: aiohttp.ClientResponse, segment: Segment) -> bool:
        """Write the body at the segment's cursor; True when the body ended cleanly.

        The read is watched by the engine's `_StallWatch`, which cancels it when no
        byte came for `timeouts.stall` seconds; that ends here as a `StallTimeout`.
        """
        live = _Live(anyio.current_time())
        stalls = self.e._stalls
        stalls.add(live)
        try:
            with live.scope:
                return await self._read_body(resp, segment, live)
        finally:
            stalls.discard(live)
        raise StallTimeout(self.e.timeouts.stall, url=redact_url(str(resp.url)))

    async def _read_body(self, resp: aiohttp.ClientResponse, segment: Segment, live: _Live) -> bool:
        """The body of `_stream`.

        The chunks aiohttp received are kept as they are and written together by one
        `pwritev`, so no byte of the body is copied on the event loop's thread.
        """
        assert self.data is not None
        chunks: list[bytes] = []
        pending = 0
        clock = self.e._clock
        flushed_at = clock.monotonic()
        try:
            while True:
                room = None if segment.end is None else segment.end - segment.pos - pending
                if room is not None and room <= 0:
                    return True
                try:
                    chunk = await resp.content.readany()
                except TimeoutError:
                    raise StallTimeout(
                        self.e.timeouts.stall, url=redact_url(str(resp.url))
                    ) from None
                except (aiohttp.ClientError, HttpProcessingError) as exc:
                    # a chunk-size line that cannot be read, a connection cut short...
                    tail = _received_before_failure(resp.content, room)
                    if tail:
                        chunks.append(tail)
                    raise translate(exc, str(resp.url)) from None
                if not chunk:
                    return True
                live.count += 1
                if room is not None and len(chunk) > room:  # more than the range asked for
                    chunk = chunk[:room]
                await self.e._throttle.consume(len(chunk))
                chunks.append(chunk)
                pending += len(chunk)
                if (
                    pending >= WRITE_BATCH
                    or (segment.end is not None and segment.pos + pending >= segment.end)
                    or clock.monotonic() - flushed_at >= FLUSH_INTERVAL
                ):
                    await self._write(segment, chunks)
                    pending = 0
                    flushed_at = clock.monotonic()
        finally:
            if chunks:
                # time-boxed: a full disk must not hold a cancelled transfer forever
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await self._write(segment, chunks)
            resp.close()

    async def _write(self, segment: Segment, chunks: list[bytes]) -> None:
        """Write `chunks` at the segment's cursor, then empty the list.

        Saving and checkpointing the cursors are only asked for here; `_record` does
        them in its own task, so a stream never waits for an fdatasync.
        """
        assert self.data is not None
        size = sum(len(c) for c in chunks)
        data, front, offset = self.data, self.front, segment.pos

        def write() -> None:
            data.write_at(chunks, offset)
            front.feed(offset, chunks)  # hashed now, if the hashed prefix ends here

        # `chunks` stays untouched until the write returns: the stream waits for it
        await self.e.space.write(write, size, self.request.on_wait, key=self.request.key)
        segment.pos += size
        # written: a cancel landing later must not make `_stream` write these bytes a
        # second time, at the advanced cursor
        chunks.clear()
        self.received += size
        if self.cp is not None and self.cp.total is None:  # of a size told by no header
            self._note_size(self.received)
        self.since_checkpoint += size
        self.since_save += size
        self.refreshes_without_progress = 0
        self.progress.set()
        now = self.e._clock.monotonic()
        if (
            self.since_checkpoint >= self.e.checkpoint_every
            or now - self.checkpointed_at >= self.e.checkpoint_interval
        ):
            self.sync_due = True
            self.record_wanted.set()
        elif self.since_save >= self.save_every or now - self.saved_at >= SAVE_INTERVAL:
            self.save_due = True
            self.record_wanted.set()

    async def _record(self) -> None:
        """Checkpoint or save the cursors whenever `_write` asks, until every segment is done."""
        assert self.cp is not None
        segments = self.cp.segments
        while True:
            # what is told is what was on disk when the save was asked for: a fast
            # stream may well have ended by the time the sync or the save returns
            done = self._done()
            if self.sync_due:
                self.sync_due = self.save_due = False
                await self._checkpoint()
            elif self.save_due:
                self.save_due = False
                await self._save()
            elif all(s.done for s in segments):
                return
            else:
                self.record_wanted = anyio.Event()
                if not (self.sync_due or self.save_due or all(s.done for s in segments)):
                    await self.record_wanted.wait()
                continue
            if self.report_due:
                await self._report(done)

    async def _save(self) -> None:
        """Record the written cursors without a sync (see `_checkpoint` for why that is safe)."""
        assert self.cp is not None
        self.since_save = 0
        self.saved_at = self.e._clock.monotonic()
        self.report_due = True
        if not self._keeps_checkpoint():
            return
        self.cp.boot_id = current_boot_id()
        # the text is taken here, on the loop: a consistent snapshot of the cursors
        try:
            await anyio.to_thread.run_sync(self.files.write, self.cp.to_json())
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # the last saved cursors stay valid: a resume fetches a little more, nothing is lost
            log.warning("transfer.checkpoint_deferred", key=self.request.key, error=str(exc))

    def _done(self) -> int:
        """Bytes written so far, over every segment."""
        assert self.cp is not None
        return sum(segment.pos - segment.start for segment in self.cp.segments)

    async def _report(self, done: int | None = None) -> None:
        """Tell the caller `done` bytes (by default, what is written now)."""
        if self.request.on_progress is None or self.cp is None:
            return
        self.report_due = False
        if self.request.on_size is not None and self.cp.total is not None:
            self.request.on_size(self.cp.total)
        await self.request.on_progress(self._done() if done is None else done)

    async def _checkpoint(self) -> None:
        if self.cp is None or self.data is None:
            return
        self.since_checkpoint = 0
        self.checkpointed_at = self.e._clock.monotonic()
        if not self._keeps_checkpoint():
            await self._save()  # only reports progress
            return
        # cursors taken before the sync: bytes written while it runs are not covered by it
        written = [segment.pos for segment in self.cp.segments]
        data = self.data
        await anyio.to_thread.run_sync(data.sync)
        self.cp.durable = written
        await self._save()

    # ---- digests -----------------------------------------------------------
    def _collect_digests(self, resp: aiohttp.ClientResponse, *, whole_body: bool) -> None:
        assert self.cp is not None
        for digest in parse_digest_headers(resp.headers.items(), whole_body=whole_body):
            entry = (digest.algorithm, digest.hex(), digest.source)
            if entry not in self.cp.offered:
                self.cp.offered.append(entry)

    def _expected_tuples(self) -> list[tuple[str, str, str]]:
        assert self.cp is not None
        own = [(d.algorithm, d.hex(), d.source) for d in self.request.expected_digests]
        return own + list(self.cp.offered)

    async def _follow_hash(self) -> None:
        """Hash from disk what no write handed over, as the contiguous prefix grows.

        Runs beside the streams, not in their path, in a worker thread; a small file
        (`_is_small`) is read back here on the loop instead, as that takes less than
        handing it to a thread and back."""
        assert self.cp is not None
        segments = self.cp.segments
        front = self.front
        while True:
            target = contiguous_end(segments)
            if target > front.done:
                await self._catch_up(target)
                continue
            if all(s.done for s in segments):
                return
            self.progress = anyio.Event()
            if contiguous_end(segments) > front.done or all(s.done for s in segments):
                continue
            await self.progress.wait()

    async def _catch_up(self, end: int) -> None:
        """Hash from disk up to `end`: on the loop for a small file, else in a worker thread."""
        assert self.data is not None
        if self._is_small():
            self.front.catch_up(self.data, end)
        else:
            await anyio.to_thread.run_sync(self.front.catch_up, self.data, end)

    # ---- the end: verify, then promote -------------------------------------
    def _place(self, final: Path) -> tuple[Jail, PurePosixPath]:
        """`final` in the jail of the archive root, or (outside it) in its own folder's."""
        if self.e.jail.contains(final):
            return self.e.jail, self.e.jail.relative(final)
        return Jail(final.parent), PurePosixPath(final.name)

    async def _verify(self, size: int) -> dict[str, bytes]:
        """Check `size` against every size told, and the bytes against every digest
        expected; the digests of the file."""
        assert self.cp is not None
        assert self.data is not None
        url = self._redacted()
        hasher = self.front.hasher
        for expected_size in (self.cp.total, self.request.expected_size):
            if expected_size is not None and expected_size != size:
                raise SizeMismatch(expected_size, size, url=url)
        if hasher.size != size:
            raise SizeMismatch(size, hasher.size, url=url)
        expected = self._expected_tuples()
        missing = {a for a, _, _ in expected} - hasher.algorithms
        actual = hasher.digests()
        if missing:  # offered late (not by the first response): one more pass, from disk
            late = MultiHasher(missing)
            await anyio.to_thread.run_sync(self.data.hash_range, late, 0, size)
            actual.update(late.digests())
        for algorithm, value, source in expected:
            if to_hex(actual[algorithm]) != value:
                raise DigestMismatch(
                    algorithm, value, to_hex(actual[algorithm]), source=source, url=url
                )
        return actual

    async def _finish(self, dest_dir: Path, rename: Callable[[str], str] | None) -> FetchResult:
        assert self.cp is not None
        assert self.data is not None
        size = contiguous_end(self.cp.segments)
        if self.front.done < size:  # what no write handed over and nothing followed
            await self._catch_up(size)
        if promises_start(self.promised):
            await check_start(self.data, size, self.promised, self.status, self._redacted())
        try:
            actual = await self._verify(size)
        except VerificationError as exc:
            if self.encoding is None:
                raise
            raise EncodedBody(self.encoding, exc) from None
        expected = self._expected_tuples()
        name = self.cp.name if rename is None else rename(self.cp.name)
        final = dest_dir / name
        data = self.data
        self.data = None

        def promote_and_clean() -> bytes:
            head = data.read_at(0, HEAD_BYTES)
            promote(data, (self.files.jail, self.files.data_rel), self._place(final))
            self.files.reset()  # the checkpoint, if one was saved
            return head

        head = await anyio.to_thread.run_sync(promote_and_clean)
        return FetchResult(
            path=final,
            name=name,
            size=size,
            sha256=to_hex(actual["sha256"]),
            digests={k: to_hex(v) for k, v in actual.items()},
            verified_by=tuple(sorted({s for _, _, s in expected})),
            bytes_received=self.received,
            head=head,
            validator=self.cp.validator,
            ranges_supported=self.cp.ranges_supported,
            refetches=tuple(self.refetches),
            content_encoding=self.encoding,
        )


__all__ = ["AssetRequest", "FetchResult", "TransferEngine"]
