"""What an adapter decides an item does next: ask, wait, fetch or fail. Pure.

An adapter written as a step machine is a function of the item's memo (what is
stored of it: the stage it reached, a platform download id, along with what an `Ask`
gathered this turn, its `scratch`) and the platform's last answer, returning one of
these.  It performs nothing: the runner's shell (`downloader.runners._drive`, lent
to each adapter as its `Drive`) sends an `Ask` through the API client, keeps a
`Wait` on the item's one poll schedule, hands a `Fetch` to the transfer engine and
raises a `Fail`.  So the whole dance of a platform reads as a table of answers to
steps, and is tested without a loop or a server.

A step may carry a new memo: the shell stores it before it goes on, so a later turn
(or a new process) starts from there and never asks again what is already known.
Only I/O-free modules may be imported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from downloader.errors import ProviderError
from downloader.providers._types import Phase

if TYPE_CHECKING:  # the shell's I/O types, named in `Drive` only
    from downloader.providers._api import ApiClient
    from downloader.providers._poll import PhaseTracker, Poller
    from downloader.providers._turn import Parked, Turn
    from downloader.providers._types import PackageMemo

__all__ = [
    "Ask",
    "Drive",
    "Fail",
    "Fetch",
    "Machine",
    "Memo",
    "Note",
    "Refused",
    "Route",
    "Step",
    "Wait",
]

Memo = Mapping[str, Any]
"""What is stored of one item between its steps (JSON values only)."""

Method = Literal["GET", "PUT", "POST"]

Note = tuple[str, Mapping[str, Any]]
"""A warning the shell logs for a step: its event and fields (the job's messages
could not be had, and why)."""


@dataclass(frozen=True)
class Ask:
    """Send this request; the decoded answer is the next step's input."""

    method: Method
    path: str
    what: str
    """What is being asked, for messages: "Pixxel job wf/j1"."""
    goal: str = "ready"
    """What the answer is awaited for: "not finished after 48h"."""
    body: Any = None
    params: Mapping[str, str] | None = None
    """The query, when `path` carries none."""
    memo: Memo | None = None
    """A memo to store before asking (a stage reached); None: keep the stored one."""
    scratch: Mapping[str, Any] | None = None
    """What the next step is given along with the stored memo, not stored: what this
    turn gathered so far (the pages of a list read before this one)."""
    phase: Phase | None = None
    """The phase the item enters with this question, if any."""
    detail: str = ""
    refusals: frozenset[int] = frozenset()
    """Error statuses that answer the question (the machine gets a `Refused`) rather
    than fail the item: a download the platform forgot (404), one not yet allowed.
    A passing failure (429, most 5xx) is asked again all the same."""
    repeat_unreadable: bool = True
    """False: an answer the machine cannot read fails at once, as asking again would
    make another of what the question creates (a download)."""
    event: str = ""
    """What the log says as the question is first asked ("provider.download_created")."""


@dataclass(frozen=True)
class Refused:
    """The answer to an `Ask` was one of its `refusals`."""

    status: int
    message: str


@dataclass(frozen=True)
class Wait:
    """Not yet: ask the same question again on the item's poll schedule."""

    status: str
    """The platform's own word (or what it lacked), for the log and the give-up text."""
    known: bool = True
    """False for a word the adapter does not know (logged once, then polled on)."""
    phase: Phase | None = None
    detail: str = ""


@dataclass(frozen=True)
class Fetch:
    """The package is ready: these are the facts its assets are made of."""

    url: str | None
    """The one file's URL, for a package of one (None: the files are in `extra`)."""
    download_id: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Anything more the adapter needs to build its `Package` (file names, scene)."""
    memo: Memo | None = None
    """A memo to store before the fetch; None: keep the stored one."""
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Fail:
    """The item cannot go on: what the platform reported, as an error of `kind`.

    The shell raises it with its message cleaned of credentials.  An answer that
    cannot be read is no `Fail`: the parsers raise `MalformedResponse`, which the poll
    schedule counts toward its limit of unreadable answers in a row."""

    message: str
    kind: type[ProviderError] = ProviderError
    memo: Memo | None = None
    """A memo to store first (e.g. forget a failed download); None: keep it."""
    notes: tuple[Note, ...] = ()


Step = Ask | Wait | Fetch | Fail

Machine = Callable[[Memo, Any], Step]
"""An adapter's step function for one item: (memo, last answer or None) -> next step."""


@dataclass(frozen=True)
class Route:
    """What the shell drives one item's machine with: the API client it asks
    through, the poller it waits on, the memo it stores in, and where it tells of
    phases (`phases`) and of the events the questions name (`log`, bound to the item)."""

    api: ApiClient
    poller: Poller
    memo: PackageMemo
    phases: PhaseTracker | None = None
    log: Any = None


class Drive(Protocol):
    """The runner's shell that runs a `Machine` (`downloader.runners._drive.drive`),
    lent to each adapter: it asks, waits and stores along the `Route` until the
    machine fetches (or, in `turn`, a long wait returns `Parked`)."""

    @overload
    async def __call__(self, machine: Machine, route: Route, turn: None = None) -> Fetch: ...

    @overload
    async def __call__(
        self, machine: Machine, route: Route, turn: Turn | None
    ) -> Fetch | Parked: ...
