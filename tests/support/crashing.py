"""Providers that raise something of no kind of ours, injected where the runners take
their providers (`ItemWorker.providers`), as a defect in reading an answer would.

Each wraps the real provider of a run and asks the platform first, so the emulator
sees the same requests as without the fault; only then does it raise.  Whatever else
is asked of it (a survey's `can_survey`, `surveyed_kinds`) is the real provider's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from downloader.items import ItemRef
from downloader.providers import (
    JobSurvey,
    Package,
    PackageMemo,
    PhaseListener,
    Provider,
    SurveyAnswer,
    survey_of,
)
from downloader.providers._turn import Parked, Turn

ANSWER = "9" * 1000
"""Quoted by the faults' messages, as a foreign message may quote a whole answer."""


class _Wrapped:
    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name

    async def prepare(
        self, item: ItemRef, memo: PackageMemo, events: PhaseListener, turn: Turn | None = None
    ) -> Package | Parked:
        return await self.inner.prepare(item, memo, events, turn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashingItem(_Wrapped):
    """`inner`, except that the work of the item `bad` raises a `KeyError` after the
    platform has answered."""

    def __init__(self, inner: Provider, bad: str) -> None:
        super().__init__(inner)
        self.bad = bad

    async def prepare(
        self, item: ItemRef, memo: PackageMemo, events: PhaseListener, turn: Turn | None = None
    ) -> Package | Parked:
        package = await self.inner.prepare(item, memo, events, turn)
        if item.key == self.bad:
            raise KeyError(f"no 'size' in {ANSWER}")
        return package


class CrashingSurvey(_Wrapped):
    """`inner`, a `JobSurvey`, except that every survey raises a `RuntimeError` after
    the platform has answered it."""

    def __init__(self, inner: Provider) -> None:
        super().__init__(inner)
        survey = survey_of(inner)
        assert survey is not None, f"{inner.name} has no survey"
        self.inner_survey = survey
        self.survey: JobSurvey | None = self

    async def still_running(self, items: Sequence[ItemRef]) -> SurveyAnswer:
        await self.inner_survey.still_running(items)
        raise RuntimeError(f"list not understood: {ANSWER}")


def crashing_item(providers: Mapping[str, Provider], bad: str) -> dict[str, Provider]:
    """`providers`, with the work of the item `bad` raising a `KeyError`."""
    provider = bad.split(":", 1)[0]
    return {**providers, provider: CrashingItem(providers[provider], bad)}


def crashing_survey(providers: Mapping[str, Provider], name: str) -> dict[str, Provider]:
    """`providers`, with every survey of the provider `name` raising a `RuntimeError`."""
    return {**providers, name: CrashingSurvey(providers[name])}
