"""What the surveys of every platform share: tallying the answers, and saying so.

A survey asks a platform about many waiting items in a few requests (`JobSurvey`).
`SurveyTally` collects what those requests said, one at a time, into the
`SurveyAnswer`: the items whose jobs still run, and the items a passing failure
left unanswered.  Anything else is left to the items' own turns.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from downloader.errors import ApiError, ProviderError
from downloader.providers._parse_common import RemoteState, Status
from downloader.providers._types import SurveyAnswer

__all__ = ["SurveyTally", "log_survey_off"]

log = structlog.get_logger("downloader.providers")


class SurveyTally:
    """The answers of one survey's requests, as they come; `answer()` at the end."""

    def __init__(self, provider: str, unknown: set[str]) -> None:
        self.provider = provider
        self._unknown = unknown
        """Status words already warned about (kept by the caller across surveys)."""
        self._running: set[str] = set()
        self._unanswered: set[str] = set()
        self._retry_after: float | None = None

    def saw(self, status: Status | None, keys: Iterable[str], what: str) -> None:
        """A list showed `status` for the job of the items `keys` (None: not listed)."""
        if status is None or status.state is not RemoteState.RUNNING:
            return  # finished, failed or not listed: for the items' own turns
        self._running.update(keys)
        if not status.known and status.word not in self._unknown:
            self._unknown.add(status.word)
            log.warning("provider.unknown_status", what=what, status=status.word)

    def failed(self, keys: Iterable[str], exc: ProviderError, **where: str) -> bool:
        """A request about the items `keys` failed.  True for a passing failure (network,
        429, 5xx): they are left unanswered, to be asked about again on their schedule.
        False for any other: the list cannot be used, and the caller stops asking for it."""
        if not (isinstance(exc, ApiError) and exc.retryable):
            return False
        before = len(self._unanswered)
        self._unanswered.update(keys)
        if exc.retry_after is not None:
            self._retry_after = max(self._retry_after or 0.0, exc.retry_after)
        log.warning(
            "provider.survey_failed",
            provider=self.provider,
            items=len(self._unanswered) - before,
            error=str(exc),
            **where,
        )
        return True

    def answer(self) -> SurveyAnswer:
        return SurveyAnswer(
            frozenset(self._running), frozenset(self._unanswered), self._retry_after
        )


def log_survey_off(provider: str, reason: str, **where: str) -> None:
    """Say once that a list is not asked for again, and why."""
    log.warning(
        "provider.survey_off",
        provider=provider,
        reason=reason,
        detail="its jobs are asked about one by one from now on",
        **where,
    )
