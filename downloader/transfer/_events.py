"""The events a transfer's streams are fed and the actions they return (see `_life`).

Events are facts the shell observed, already translated into the exception tree
where they entered; actions are what the shell carries out next.  Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from downloader.errors import TransferError
from downloader.transfer._plan import Judgement


# ---- events: facts the shell observed -----------------------------------------
@dataclass(frozen=True)
class Answered:
    """A response head: its status and the header fields the decisions read."""

    status: int
    content_range: str | None = None
    content_length: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after: str | None = None
    detail: str = ""  # what an error body said


@dataclass(frozen=True)
class Wrote:
    """Bytes of the body now on disk at the cursor."""

    length: int


@dataclass(frozen=True)
class BodyEnded:
    """The body ended cleanly (its length reached, or the connection closed)."""


@dataclass(frozen=True)
class Failed:
    """The request or the body failed."""

    error: TransferError  # already translated into the tree where it entered


@dataclass(frozen=True)
class Waited:
    """The backoff asked for by `Sleep` elapsed."""


@dataclass(frozen=True)
class Renewed:
    """The answer to `Renew`."""

    renewed: bool  # False: no fresh URL may be asked for any more


Event = Answered | Wrote | BodyEnded | Failed | Waited | Renewed


# ---- actions: what the shell does next ----------------------------------------
@dataclass(frozen=True)
class Ask:
    """Send a GET for `range` (with `If-Range` when a validator is known)."""

    range: str
    if_range: str | None


@dataclass(frozen=True)
class Stream:
    """Read the body into the file at `judgement.offset`, telling each write."""

    judgement: Judgement  # offset, length, total, validator, ranges of the body


@dataclass(frozen=True)
class Sleep:
    """Wait `seconds` on the injected clock, then tell `Waited`."""

    seconds: float
    why: str = field(default="", compare=False)  # the failure waited out, for logs


@dataclass(frozen=True)
class Renew:
    """Ask the caller for a fresh URL (once for all streams), then tell `Renewed`."""

    status: int
    detail: str


@dataclass(frozen=True)
class Over:
    """The stream ends without its bytes.  With `restart` the transfer discards what
    is on disk and starts from zero (the object changed, or a server without ranges
    broke off), `error` saying why; else the transfer ends with `error`."""

    error: TransferError
    restart: bool = False


@dataclass(frozen=True)
class Finished:
    """The stream's bytes are all on disk."""


Action = Ask | Stream | Sleep | Renew | Over | Finished | None
