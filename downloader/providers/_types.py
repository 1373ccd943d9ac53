"""What a provider adapter gives the runner, and what the runner gives it.

An adapter turns an `ItemRef` into a `Package`: the assets to hand to the
transfer engine, once the platform has finished the job and built whatever must
be built.  While it waits it reports phases through a `PhaseListener`, and what
it must never ask the platform twice (a catalog download's id) it keeps in a
`PackageMemo`, which outlives the process when the runner backs it by its store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from downloader.items import ItemRef
from downloader.providers._turn import Parked, Turn

if TYPE_CHECKING:
    from downloader.transfer import AssetRequest

__all__ = [
    "JobSurvey",
    "MemoryMemo",
    "Package",
    "PackageMemo",
    "Phase",
    "PhaseListener",
    "Provider",
    "Scene",
    "SilentListener",
    "SurveyAnswer",
    "survey_of",
]

Phase = Literal["waiting", "requested", "preparing"]
"""`waiting`: the remote job runs; `requested`: the package was asked for;
`preparing`: the platform is still building it (we poll)."""


@dataclass(frozen=True)
class Scene:
    """Where and when a package's data was taken, as far as the platform said."""

    geometry: Mapping[str, Any] | None = None
    """A GeoJSON geometry (WGS 84), as the platform gave it."""
    acquired: datetime | None = None
    acquired_range: tuple[datetime, datetime] | None = None


@dataclass(frozen=True)
class Package:
    """An item's files, ready to fetch.

    Every asset goes to `TransferEngine.fetch` as it is.  An asset the platform
    offers no way to fetch (a Scale file without a URL) is still listed, so the item
    cannot silently lose it: fetching it raises `ProviderError` with the reason.
    """

    assets: tuple[AssetRequest, ...]
    download_id: str | None
    """The platform's id of the download or package, if it has one."""
    description: str
    """What this is, for people: "Pixxel job package (ZIP)", "Scale job products"."""
    scene: Scene | None = None
    """Where and when the data was taken, where the platform said (its STAC Item's)."""
    tag_files: tuple[tuple[str, bytes], ...] = ()
    """(name, content) of tag files the bag gets besides its own: what the platform
    said of the item that is no payload, e.g. an Alteryx job's messages."""


class PackageMemo(Protocol):
    """Where an adapter keeps what it must not ask the platform twice (one item's worth)."""

    async def load(self) -> Mapping[str, Any] | None:
        """What was saved last, or None when nothing was."""
        ...

    async def save(self, data: Mapping[str, Any]) -> None:
        """Replace what is kept with `data` (JSON-serialisable values only)."""
        ...


class PhaseListener(Protocol):
    """Told when an item moves to another phase of the platform dance."""

    async def phase(self, name: Phase, detail: str = "") -> None: ...


class Provider(Protocol):
    """One platform: turns items into packages."""

    name: str
    survey: JobSurvey | None
    """What answers for many of its waiting items at once (often the provider
    itself), or None: each waiting item is then asked about in its own turn."""

    async def prepare(
        self, item: ItemRef, memo: PackageMemo, events: PhaseListener, turn: Turn | None = None
    ) -> Package | Parked:
        """Wait for `item`'s remote job and package; return what to download.

        In `turn` (one turn of the item, which the runner keeps), a long wait ends it:
        `Parked` says when to ask again, and the memo where to start then.  Without,
        every wait is slept through and a `Package` is all it returns.

        Raises `ProviderError` (or a subclass) when the item cannot go on: the job
        failed, the package never became ready, the platform refused us or answered
        nonsense.  Its message is short and fit to show on the item.
        """
        ...


@dataclass(frozen=True)
class SurveyAnswer:
    """What one survey learnt of the items it was asked about, by key.

    A key in neither set is an item to look at closely, alone: its job has finished
    or failed, or the platform's list did not show it."""

    running: frozenset[str] = frozenset()
    """The platform says these items' jobs still run."""
    unanswered: frozenset[str] = frozenset()
    """A passing failure left these unanswered: ask about them again on their schedule."""
    retry_after: float | None = None
    """The platform's Retry-After of that failure, in seconds, if it gave one."""


class JobSurvey(Protocol):
    """A provider that can tell of many items at once whether their jobs still run.

    Only a "still running" is taken from a survey; everything else about an item
    (finished, failed, missing) is found out by its own `prepare`.
    """

    def can_survey(self, item: ItemRef) -> bool:
        """Whether `item`, while it waits on its job, can be asked about in a survey."""
        ...

    def surveyed_kinds(self) -> frozenset[str]:
        """The kinds of item (`job`...) that `can_survey` may say yes to, for now."""
        ...

    async def still_running(self, items: Sequence[ItemRef]) -> SurveyAnswer:
        """Ask the platform about `items` in as few requests as it allows.

        Never raises for what the platform answered: a failure leaves the items it
        concerns unanswered (passing) or out of both sets (to be asked alone)."""
        ...


def survey_of(provider: Provider | None) -> JobSurvey | None:
    """The survey `provider` declares, if any (`None`: a provider not configured).

    Asked of every item claimed: an attribute read, where an `isinstance` of a
    runtime-checkable protocol costs some 50 times as much."""
    return None if provider is None else provider.survey


class MemoryMemo:
    """A `PackageMemo` in memory: for tests, and for items the runner does not persist."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self.data: dict[str, Any] | None = dict(data) if data is not None else None
        self.saves = 0

    async def load(self) -> Mapping[str, Any] | None:
        return dict(self.data) if self.data is not None else None

    async def save(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)
        self.saves += 1


class SilentListener:
    """A `PhaseListener` that ignores every phase."""

    async def phase(self, name: Phase, detail: str = "") -> None:
        return None
