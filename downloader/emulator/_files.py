"""A fault-injecting HTTP file host on loopback, for tests, the emulator and benchmarks.

It serves generated files (`SeededContent`, streamed, never stored) with exact
single-range semantics, and misbehaves on request the way CDNs and object stores
do: dropped connections, stalls, error statuses, ignored ranges, changing ETags,
lying lengths, flipped bytes, wrong `Content-Range`, expiring signed URLs refused
in S3's, GCS's or Azure's words, error pages served with 200, gzip-coded bodies and
redirects.  Decisions live in `_ranges`, `_body`, `_signing` and `_refusals`; this
module only moves bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus

from aiohttp import web

from downloader.emulator._body import Budget, Pause, iter_body, plan_body
from downloader.emulator._content import SeededContent
from downloader.emulator._digests import KINDS, digest_headers_for
from downloader.emulator._filespec import (
    AUTO_ETAG,
    VERSION_SEED_STEP,
    Faults,
    FileSpec,
    RequestRecord,
)
from downloader.emulator._gather import Gathering
from downloader.emulator._pages import error_page, signature_page
from downloader.emulator._ranges import (
    ByteRange,
    Unsatisfiable,
    format_http_date,
    is_if_range_satisfied,
    parse_range,
)
from downloader.emulator._refusals import error_body, expiry_refusal, gzip_body
from downloader.emulator._reuse import ReuseWatch
from downloader.emulator._running import RunningHost, start_file_host
from downloader.emulator._signing import Verdict, check_signature, signed_query

__all__ = [
    "AUTO_ETAG",
    "KINDS",
    "Faults",
    "FileHost",
    "FileSpec",
    "RequestRecord",
    "RunningHost",
    "digest_headers_for",
    "start_file_host",
]

_WRONG_RANGE_SHIFT = 1024


class _Entry:
    """A served path: its current spec, its faults and the budgets of counted faults."""

    def __init__(self, spec: FileSpec, faults: Faults) -> None:
        self.spec = spec
        self.faults = faults
        self.drops = Budget()
        self.stalls = Budget()
        self.flips = Budget()
        self.pages = Budget()
        self.closes = Budget()

    def bump_version(self) -> None:
        spec = self.spec
        modified = spec.last_modified
        content = spec.content
        if isinstance(content, SeededContent):
            content = SeededContent(content.seed + VERSION_SEED_STEP, content.size)
        self.spec = dataclasses.replace(
            spec,
            version=spec.version + 1,
            content=content,
            # HTTP dates have one-second resolution: a replaced object must look newer.
            last_modified=modified + timedelta(seconds=1) if modified is not None else None,
        )


class FileHost:
    """An aiohttp application serving `FileSpec`s, with faults and a request log.

    `clock` gives unix seconds; it decides signed-URL expiry and stamps the log.
    """

    def __init__(
        self, *, secret: bytes = b"test-secret", clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self.log: list[RequestRecord] = []
        self._reuse = ReuseWatch()
        self.gathering = Gathering()
        """Requests open at once (the most so far), and the `gather` fault's latch."""
        self._app = web.Application()
        self._app.router.add_route("*", "/{tail:.*}", self.handle)

    @property
    def app(self) -> web.Application:
        return self._app

    def add(self, spec: FileSpec, faults: Faults | None = None) -> None:
        """Serve `spec` at `spec.path` (replacing whatever was there)."""
        self._entries[spec.path] = _Entry(spec, faults if faults is not None else Faults())

    def faults(self, path: str) -> Faults:
        """The live faults of `path`; change them between requests."""
        return self._entries[path].faults

    def spec(self, path: str) -> FileSpec:
        """The current version's spec of `path`."""
        return self._entries[path].spec

    def replace(self, path: str) -> None:
        """Model the object being overwritten: new content, new auto ETag, newer date."""
        self._entries[path].bump_version()

    def content_of(self, path: str) -> SeededContent:
        """The current version's generated content (for the expected digest)."""
        content = self._entries[path].spec.content
        if not isinstance(content, SeededContent):
            raise TypeError(f"{path} is not served from generated content; use spec(path)")
        return content

    def bytes_served(self) -> dict[str, int]:
        """Body bytes sent so far per path, every response counted (error pages too)."""
        served: dict[str, int] = {}
        for record in self.log:
            served[record.path] = served.get(record.path, 0) + record.bytes_sent
        return served

    def signed_url(self, base: str, path: str, lifetime: float) -> str:
        """`base + path` signed to stay valid for `lifetime` seconds from now."""
        expires = int(self._clock() + lifetime)
        return f"{base}{path}?{signed_query(self._secret, path, expires)}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request; usable as a route handler in another application."""
        with self.gathering.opened():
            return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers={name: ", ".join(request.headers.getall(name)) for name in request.headers},
            status=0,
            bytes_sent=0,
            range=request.headers.get("Range"),
            started=self._clock(),
        )
        self.log.append(record)
        entry = self._entries.get(request.path)
        if entry is None:
            return _simple(request, record, 404, error_page(404))
        if request.method not in ("GET", "HEAD"):
            return _simple(request, record, 405, error_page(405), {"Allow": "GET, HEAD"})
        faults = entry.faults
        if self._reuse.closes(request, faults, entry.closes):
            raise web.HTTPServiceUnavailable()  # never sent: its connection is closed
        await self.gathering.held(faults.gather, faults.gather_seconds)
        if faults.url_lifetime is not None:
            verdict = check_signature(self._secret, request.path, request.query, self._clock())
            if verdict is Verdict.EXPIRED:
                status, page = expiry_refusal(faults.expiry_answer, request.query, self._clock())
                return _simple(request, record, status, page)
            if verdict is Verdict.BAD_SIGNATURE:
                return _simple(request, record, 403, signature_page())
        if faults.error_statuses:
            status = faults.error_statuses.pop(0)
            extra = {"Retry-After": faults.retry_after} if faults.retry_after else {}
            return _simple(request, record, status, error_page(status), extra)
        if faults.error_body is not None and entry.pages.allows(
            (faults.error_body, faults.error_body_times), faults.error_body_times
        ):
            entry.pages.charge()
            return _simple(request, record, 200, error_body(faults.error_body))
        if faults.redirect_to is not None:
            location = {"Location": faults.redirect_to}
            return _simple(request, record, 302, error_page(302), location)
        if faults.change_etag_every_request:
            entry.bump_version()
        return await self._serve(request, record, entry)

    async def _serve(
        self, request: web.Request, record: RequestRecord, entry: _Entry
    ) -> web.StreamResponse:
        spec, faults = entry.spec, entry.faults
        size = spec.content.size
        etag = spec.effective_etag()
        headers = {"Accept-Ranges": "bytes", "Content-Type": spec.content_type}
        if etag is not None:
            headers["ETag"] = etag
        if spec.last_modified is not None:
            headers["Last-Modified"] = format_http_date(spec.last_modified)
        if spec.content_disposition is not None:
            headers["Content-Disposition"] = spec.content_disposition

        wanted = None if faults.ignore_range else parse_range(request.headers.get("Range"), size)
        if wanted is not None and not is_if_range_satisfied(
            request.headers.get("If-Range"), etag, spec.last_modified
        ):
            wanted = None
        if isinstance(wanted, Unsatisfiable):
            headers["Content-Range"] = wanted.content_range(size)
            return _simple(request, record, 416, error_page(416), headers)
        if isinstance(wanted, ByteRange):
            status, part = 206, wanted
            shift = _wrong_shift(part, size) if faults.wrong_content_range else 0
            headers["Content-Range"] = part.content_range(size, shift)
            if faults.digest_on_206:
                headers.update(spec.digests)
        else:
            status, part = 200, ByteRange(0, size)
            headers.update(spec.digests)

        if faults.gzip:
            coded = gzip_body(spec.content)
            headers.update({"Content-Encoding": "gzip"})
            headers.pop("Content-Range", None)
            return _simple(request, record, 200, (coded, spec.content_type), headers)
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = max(0, part.length + faults.content_length_delta)
        record.status = status
        await response.prepare(request)
        if request.method == "HEAD":
            return response

        may_drop = faults.drop_after_bytes is not None and entry.drops.allows(
            (faults.drop_after_bytes, faults.drop_times), faults.drop_times
        )
        may_stall = faults.stall_seconds > 0 and entry.stalls.allows(
            (faults.stall_seconds, faults.stall_after_bytes, faults.stall_times), faults.stall_times
        )
        may_flip = faults.flip_byte_at is not None and entry.flips.allows(
            (faults.flip_byte_at, faults.flip_mask, faults.flip_times), faults.flip_times
        )
        plan = plan_body(
            part.start,
            part.length,
            length_delta=faults.content_length_delta,
            drop_after=faults.drop_after_bytes if may_drop else None,
            stall_after=faults.stall_after_bytes,
            stall_seconds=faults.stall_seconds if may_stall else 0.0,
            flip_at=faults.flip_byte_at if may_flip else None,
            flip_mask=faults.flip_mask,
        )
        if plan.dropped:
            entry.drops.charge()
        if plan.stall_at is not None:
            entry.stalls.charge()
        if plan.flip_at is not None:
            entry.flips.charge()

        chunk = _chunk_for(faults.rate_bytes_per_s)
        pace = _Pacer(faults.rate_bytes_per_s)
        try:
            for piece in iter_body(spec.content, plan, chunk):
                if isinstance(piece, Pause):
                    # Real time on purpose: a stall exists to trip a client's read timeout.
                    await asyncio.sleep(piece.seconds)
                    pace.restart()
                    continue
                await response.write(piece)
                record.bytes_sent += len(piece)
                await pace.after(len(piece))
        except ConnectionError:
            return response  # the client went away; nothing more to say
        if plan.close_after and request.transport is not None:
            # Closing (not aborting) flushes what was written, then ends the
            # connection short of the advertised length: a payload error for the client.
            request.transport.close()
        return response


def _wrong_shift(part: ByteRange, size: int) -> int:
    """A shift that keeps the lying Content-Range inside the file when it can."""
    if part.end - 1 + _WRONG_RANGE_SHIFT < size or part.start < _WRONG_RANGE_SHIFT:
        return _WRONG_RANGE_SHIFT
    return -_WRONG_RANGE_SHIFT


def _chunk_for(rate: int | None) -> int:
    # Small pieces under a throttle keep the stream smooth (about 20 writes a second).
    return 256 * 1024 if not rate else max(1, min(256 * 1024, rate // 20))


class _Pacer:
    """Sleeps so that bytes leave no faster than `rate` per second."""

    def __init__(self, rate: int | None) -> None:
        self._rate = rate
        self._loop = asyncio.get_running_loop()
        self.restart()

    def restart(self) -> None:
        self._origin = self._loop.time()
        self._sent = 0

    async def after(self, sent: int) -> None:
        if not self._rate:
            return
        self._sent += sent
        delay = self._origin + self._sent / self._rate - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


def _simple(
    request: web.Request,
    record: RequestRecord,
    status: int,
    body: tuple[bytes, str],
    headers: dict[str, str] | None = None,
) -> web.Response:
    data, page_type = body
    all_headers = dict(headers or {})
    all_headers["Content-Type"] = page_type
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    record.status = status
    record.bytes_sent = 0 if request.method == "HEAD" else len(data)
    return web.Response(status=status, reason=reason, body=data, headers=all_headers)
