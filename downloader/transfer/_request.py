"""What a transfer is asked to fetch (`AssetRequest`) and what it hands back (`FetchResult`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from downloader.transfer._hashers import ExpectedDigest


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
