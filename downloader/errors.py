"""The one exception tree of the project.

Every error raised across a module boundary is one of these; foreign exceptions
(aiohttp, OSError, sqlite3, json) are translated where they enter.  Errors carry
data the caller can act on rather than only a message::

    DownloaderError
    ├── ConfigError              problems: list[ConfigProblem] (file, line, key, message)
    ├── TransferError            retryable, url (always redacted)
    │   ├── HTTPStatusError      status, retry_after
    │   ├── NetworkError         connection refused/reset, DNS, TLS     (retryable), reached
    │   ├── StallTimeout         no byte for `stall` seconds             (retryable)
    │   ├── ProtocolViolation    bad Content-Range, short body, malformed head (retryable)
    │   ├── ErrorBody            a 2xx answer that is an error page: status, content_type, excerpt
    │   ├── ImplausibleSize      a header tells a size beyond any file: size
    │   ├── ObjectChanged        the validator moved under a resume
    │   ├── URLExpired           a signed URL was refused (400/401/403/410) and no fresh one came
    │   ├── UnsafeRedirect       redirect to a scheme other than http/https
    │   └── VerificationError    the bytes are wrong
    │       ├── SizeMismatch     expected, actual
    │       ├── DigestMismatch   algorithm, expected, actual, source
    │       └── EncodedBody      encoding: sent content-coded, and not what was expected
    ├── ProviderError            item-level failure reported by or about a platform
    │   ├── ApiError             an API call failed: status (None: unreachable), retry_after
    │   ├── RemoteJobFailed      the platform says the job failed; message is its text
    │   ├── PollTimeout          the package was not ready within give_up_after
    │   └── MalformedResponse    the platform answered something we cannot read
    ├── ItemCrashed              cause: an exception of no tree escaped an item's work (retryable)
    ├── HookFailed               hook: a delivery of a hook event did not go through (retryable)
    ├── StoreError
    │   ├── IllegalTransition    current, target
    │   └── LeaseLost            key, owner: another worker holds the item now
    └── ArchiveError             a bag could not be assembled or failed its audit
        ├── DamagedMember        member, span: a ZIP member's bytes cannot be right
        │   └── CorruptMember    expected, actual: its CRC-32 is wrong
        ├── FilesystemError      errno, path: the disk refused (read-only, gone, full)
        └── PlantedLink          path, root: a link below the archive root, never followed

`retryable` is the single bit the retry loops look at; everything else is for
people and logs.  The text of every error of the tree is scrubbed of secrets
(`downloader.redact`): a message built from a foreign error's text, a URL or a
platform's answer is safe to store and print, whoever built it.
"""

from __future__ import annotations

from dataclasses import dataclass

from downloader.redact import scrub


class DownloaderError(Exception):
    """Base of every error this package raises on purpose."""

    retryable: bool = False

    def __init__(self, *args: object) -> None:
        # scrubbed as it is made, so that neither str() nor repr() nor args hold a secret
        super().__init__(*(scrub(arg) if isinstance(arg, str) else arg for arg in args))

    def __str__(self) -> str:  # again: a secret may have been registered since
        return scrub(super().__str__())


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config or watchlist file."""

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f" [{self.key}]" if self.key else ""
        return _one_line(scrub(f"{where}{key}: {self.message}"))


def _one_line(text: str) -> str:
    """`text` with every control character escaped: one problem is one line of a report,
    and a value echoed from a hostile file never moves a terminal's cursor."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class ConfigError(DownloaderError):
    """The config (or watchlist) cannot be used; lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TransferError(DownloaderError):
    """Moving the bytes of one asset went wrong."""

    def __init__(self, message: str, *, url: str | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.retryable = retryable


class HTTPStatusError(TransferError):
    """The server answered with a status we cannot use."""

    def __init__(
        self,
        status: int,
        *,
        url: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        detail: str = "",
    ) -> None:
        text = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        super().__init__(text, url=url, retryable=retryable)
        self.status = status
        self.retry_after = retry_after


class NetworkError(TransferError):
    """Connection refused or reset, name resolution, TLS: the network failed us.

    `reached` is False when no connection could be made at all (refused, no such
    name, unreachable): a host that is down, rather than one that broke off.
    """

    def __init__(
        self, message: str, *, url: str | None = None, retryable: bool = True, reached: bool = True
    ) -> None:
        super().__init__(message, url=url, retryable=retryable)
        self.reached = reached


class StallTimeout(TransferError):
    """No byte arrived within the stall timeout."""

    def __init__(self, seconds: float, *, url: str | None = None) -> None:
        super().__init__(f"no data for {seconds:g}s", url=url, retryable=True)
        self.seconds = seconds


class ProtocolViolation(TransferError):
    """The server broke HTTP's rules for ranges or lengths."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message, url=url, retryable=True)


class ObjectChanged(TransferError):
    """The remote object changed (new validator) more often than we may restart."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message, url=url, retryable=False)


class URLExpired(TransferError):
    """A signed URL was refused and no fresh one could be had.

    `detail` is what the host said (S3's `AccessDenied: Request has expired`...)."""

    def __init__(self, status: int, *, url: str | None = None, detail: str = "") -> None:
        text = f"signed URL refused with HTTP {status}"
        super().__init__(f"{text}: {detail}" if detail else text, url=url, retryable=False)
        self.status = status
        self.detail = detail


class ErrorBody(TransferError):
    """A 2xx answer whose body is an error page (HTML, XML, JSON), not the file promised.

    Retryable: a login wall or a gateway's page may be passing."""

    def __init__(
        self,
        reason: str,
        *,
        status: int,
        content_type: str | None,
        excerpt: str,
        url: str | None = None,
    ) -> None:
        said = f": {excerpt!r}" if excerpt else ""
        super().__init__(f"HTTP {status} {reason}{said}", url=url, retryable=True)
        self.status = status
        self.content_type = content_type
        self.excerpt = excerpt


class ImplausibleSize(TransferError):
    """A header told a size beyond any real file: the answer is broken, not the file big."""

    def __init__(self, size: int, source: str, *, url: str | None = None) -> None:
        super().__init__(f"{source} tells a size of {size} bytes: not a real file", url=url)
        self.size = size
        self.source = source


class UnsafeRedirect(TransferError):
    """A redirect pointed somewhere we never go."""

    def __init__(self, target: str, *, url: str | None = None) -> None:
        super().__init__(f"refused redirect to {target!r}", url=url, retryable=False)
        self.target = target


class VerificationError(TransferError):
    """The bytes fetched are not the bytes promised."""


class SizeMismatch(VerificationError):
    def __init__(self, expected: int, actual: int, *, url: str | None = None) -> None:
        super().__init__(f"size mismatch: expected {expected} bytes, got {actual}", url=url)
        self.expected = expected
        self.actual = actual


class DigestMismatch(VerificationError):
    def __init__(
        self, algorithm: str, expected: str, actual: str, *, source: str, url: str | None = None
    ) -> None:
        super().__init__(
            f"{algorithm} mismatch ({source}): expected {expected}, got {actual}", url=url
        )
        self.algorithm, self.expected, self.actual = algorithm, expected, actual
        self.source = source


class EncodedBody(VerificationError):
    """The body came content-coded (gzip...) although only identity was asked for, and
    its size or digest is not the one expected: it is not the file."""

    def __init__(self, encoding: str, mismatch: VerificationError) -> None:
        super().__init__(
            f"sent with Content-Encoding: {encoding} although identity was asked for: {mismatch}",
            url=mismatch.url,
        )
        self.encoding = encoding


class ProviderError(DownloaderError):
    """An item cannot go on because of what the platform said (or failed to say)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ApiError(ProviderError):
    """A platform's API answered an error status, or could not be reached (`status` None).

    Retryable for network failures, 408, 429 and most 5xx; `retry_after` is the
    server's Retry-After in seconds when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status
        self.retry_after = retry_after


class RemoteJobFailed(ProviderError):
    """The platform reports that the job (or its package) failed."""


class PollTimeout(ProviderError):
    """The package did not become ready within `poll.give_up_after`."""


class MalformedResponse(ProviderError):
    """The platform's answer could not be understood."""


class ItemCrashed(DownloaderError):
    """An exception of no kind in this tree escaped while an item was worked: a defect,
    or a server's answer that nobody foresaw.  Retryable (the next try may not meet it),
    under the item's `[retry]` budget; `cause` is the original, traceback included."""

    retryable = True

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {_shortened(str(cause))}")
        self.cause = cause


def _shortened(text: str, limit: int = 300) -> str:
    # a foreign message may quote a whole answer (a 5,000-digit number, a page of HTML)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class HookFailed(DownloaderError):
    """One delivery of a hook event failed: the command exited non-zero, ran past its
    time limit or could not be started, or the URL answered other than 2xx or not at
    all.  The message never holds a hook's URL (it may carry a token)."""

    retryable = True

    def __init__(self, hook: str, message: str) -> None:
        super().__init__(_shortened(message))
        self.hook = hook


class StoreError(DownloaderError):
    """The state store could not do what was asked."""


class IllegalTransition(StoreError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"illegal transition {current} -> {target}")
        self.current = current
        self.target = target


class LeaseLost(StoreError):
    """A write for an item came from a worker whose lease on it has passed to another."""

    def __init__(self, key: str, owner: str, holder: str | None) -> None:
        super().__init__(f"{key}: lease of {owner!r} lost (now held by {holder or 'nobody'})")
        self.key = key
        self.owner = owner
        self.holder = holder


class ArchiveError(DownloaderError):
    """A bag could not be assembled, or an archived bag failed its audit."""


class DamagedMember(ArchiveError):
    """A ZIP member's bytes cannot be what was packed: a broken deflate stream, or (as
    `CorruptMember`) a wrong CRC-32.  Damage in transit, most likely, and confined to
    the member's `span`."""

    def __init__(self, message: str, *, member: str, span: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.member = member
        self.span = span
        """The member's bytes in the archive, `[start, end)`: its local header to the end
        of its data, all that must be fetched again to repair it; None when not known."""


class CorruptMember(DamagedMember):
    """A ZIP member's bytes do not match the CRC-32 its archive records."""

    def __init__(
        self,
        path: str,
        member: str,
        expected: int,
        actual: int,
        span: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(
            f"{path}: member {member!r} fails its CRC-32 check: "
            f"expected {expected:08x}, got {actual:08x}",
            member=member,
            span=span,
        )
        self.expected = expected
        self.actual = actual


class FilesystemError(ArchiveError):
    """The filesystem under the archive refused an operation.

    Retryable unless it is a matter of permissions (read-only, access denied): a
    folder removed under a running transfer is made again by the next attempt.
    """

    def __init__(
        self, message: str, *, path: str | None, errno: int | None, retryable: bool
    ) -> None:
        super().__init__(f"{message}: {path}" if path else message)
        self.path = path
        self.errno = errno
        self.retryable = retryable


class PlantedLink(ArchiveError):
    """A symbolic link below the archive root where a file or folder of ours belongs.

    Never followed: anyone who can write below the root could point it anywhere.
    Not retryable, as the link stays until someone removes it.
    """

    def __init__(self, path: str, root: str) -> None:
        super().__init__(
            f"{path} below the archive root {root} is a symbolic link; not following it"
        )
        self.path = path
        self.root = root
