"""The values a fault-injecting file host is configured with and records.

`FileSpec` says what is served at a path, `Faults` how badly, `RequestRecord`
what happened.  Plain data; the host in `_files.py` acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from downloader.emulator._content import Content, SeededContent

AUTO_ETAG = '"auto"'
DEFAULT_LAST_MODIFIED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
# Seed distance between successive versions of one object: large and prime, so a
# replaced object never accidentally reuses a neighbouring file's content.
VERSION_SEED_STEP = 1_000_003


@dataclass
class FileSpec:
    """One object served at `path`.

    `etag` is `AUTO_ETAG` for a strong tag derived from seed, size and version
    (`"s1-1048576-v0"`), None for no `ETag` header, or any other string sent
    verbatim (`W/"x"` is weak).  `digests` maps header names to values sent
    verbatim on 200 responses (see `digest_headers_for`).  `version` is bumped by
    `FileHost.replace`, which also changes the content's seed.
    """

    path: str
    content: Content
    etag: str | None = AUTO_ETAG
    last_modified: datetime | None = DEFAULT_LAST_MODIFIED
    content_type: str = "application/octet-stream"
    content_disposition: str | None = None
    digests: dict[str, str] = field(default_factory=dict)
    version: int = 0

    def effective_etag(self) -> str | None:
        """The `ETag` header value to send, if any."""
        if self.etag == AUTO_ETAG:
            # Generated content names its seed; any other content only its size.
            origin = f"s{self.content.seed}" if isinstance(self.content, SeededContent) else "c"
            return f'"{origin}-{self.content.size}-v{self.version}"'
        return self.etag


@dataclass
class Faults:
    """How a path misbehaves; every default means "no fault".

    Tests change these between requests: the host reads them afresh for each one.
    Counted faults (`drop_times`, `stall_times`, `flip_times`; -1 = always) count
    only responses they actually spoiled, and start counting again when their
    knobs are changed.  `error_statuses` is a queue the host pops from.

    `expiry_answer` is how a signed URL past its expiry is refused: "s3" (403 XML
    `AccessDenied: Request has expired`), "gcs" (400 XML `ExpiredToken`) or "azure"
    (403 XML `AuthenticationFailed`).  `error_body` ("html", "xml", "json") answers
    200 with an "Access Denied" page of that kind instead of the file, `error_body_times`
    times.  `gzip` serves the whole file gzip-coded (`Content-Encoding: gzip`, ranges
    ignored) although the client asked for identity.  `gather = N` holds each response
    (before its headers) until N requests are open on the host at once, at most
    `gather_seconds` (see `_gather`).
    """

    drop_after_bytes: int | None = None
    drop_times: int = 1
    stall_seconds: float = 0.0
    stall_after_bytes: int = 0
    stall_times: int = 1
    error_statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    ignore_range: bool = False
    change_etag_every_request: bool = False
    content_length_delta: int = 0
    flip_byte_at: int | None = None
    flip_times: int = 1
    flip_mask: int = 0xFF
    """The bits of the byte at `flip_byte_at` that are inverted (0x01: one bit)."""
    wrong_content_range: bool = False
    url_lifetime: float | None = None
    redirect_to: str | None = None
    digest_on_206: bool = False
    rate_bytes_per_s: int | None = None
    expiry_answer: str = "s3"
    error_body: str | None = None
    error_body_times: int = 1
    gzip: bool = False
    close_reused_times: int = 0
    """A request on a kept-alive connection that served one before is taken and the
    connection closed unanswered, this many times (-1 = always): a server closing a
    connection it found idle as the next request comes."""
    gather: int = 0
    gather_seconds: float = 30.0


@dataclass
class RequestRecord:
    """One request as the host saw and answered it.

    Appended when the request arrives; `status` and `bytes_sent` (body bytes
    actually written) fill in as it is answered.  `started` is the host's clock.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int
    bytes_sent: int
    range: str | None
    started: float
