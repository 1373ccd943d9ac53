"""The life of one request stream of a transfer, as a state machine: a sans-IO core.

Theory of operation
-------------------
A transfer's bytes come through one or more *streams*: the first request of a fresh
transfer (the probe, `bytes=0-`), then one per segment.  A stream asks, is answered,
streams a body into the file, and ends done, or fails and waits to ask again, or has
its signed URL renewed, or gives the whole transfer up to a restart.  `StreamLife` is
that life: fed with events (`Answered`, `Wrote`, `BodyEnded`, `Failed`, `Waited`,
`Renewed`), it returns the action the shell must carry out next (`Ask`, `Stream`,
`Sleep`, `Renew`, `Over`, `Finished`).  Which event each phase takes,
and which phases it may lead to, is the table `EDGES`; anything else is a
`LifeError`, a bug in the shell, never a silent overwrite.

What it decides, as the engine always did:
- an answer is judged by `_plan.judge_response` against what is known of the object:
  written, or the object changed (start over), or a status to classify
  (`_backoff.classify_status`): a refused signed URL is renewed, a transient status
  retried, anything else final;
- a failure is retried under a budget (`Budget`): not when it is final, not when the
  host was never reached and no byte ever came, not past `RetryPolicy.attempts` in a
  row without progress; each wait is full-jitter backoff or the server's Retry-After;
- a retryable failure of a server that offers no ranges starts the transfer over, as
  its bytes cannot be continued;
- a body that ends short is a `ProtocolViolation` (retried); one of unknown length
  ends the segment, and the file, where it ends.

This module imports no network, event-loop, database or file-system code: the clock's
reading and the random source come in as arguments.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from downloader.errors import (
    DownloaderError,
    HTTPStatusError,
    NetworkError,
    ObjectChanged,
    ProtocolViolation,
    TransferError,
    URLExpired,
)
from downloader.transfer._backoff import RetryVerdict, classify_status, next_delay
from downloader.transfer._backoff import parse_retry_after as _retry_after
from downloader.transfer._events import (
    Action,
    Answered,
    Ask,
    BodyEnded,
    Event,
    Failed,
    Finished,
    Over,
    Renew,
    Renewed,
    Sleep,
    Stream,
    Waited,
    Wrote,
)
from downloader.transfer._plan import Segment, Verdict, judge_response
from downloader.transfer._policy import RetryPolicy


class LifeError(DownloaderError):
    """The shell fed an event the stream's phase does not take: a bug, not a fault."""


class Phase(enum.StrEnum):
    ASKING = "asking"  # a request is out; its answer is due
    STREAMING = "streaming"  # the body goes to the file
    WAITING = "waiting"  # backing off before asking again
    RENEWING = "renewing"  # a fresh signed URL is being asked for
    DONE = "done"
    OVER = "over"  # gave up, or handed the transfer to a restart


EDGES: Mapping[tuple[Phase, type[Event]], frozenset[Phase]] = {
    (Phase.ASKING, Answered): frozenset(
        {Phase.STREAMING, Phase.WAITING, Phase.RENEWING, Phase.OVER}
    ),
    (Phase.ASKING, Failed): frozenset({Phase.WAITING, Phase.OVER}),
    (Phase.STREAMING, Wrote): frozenset({Phase.STREAMING}),
    (Phase.STREAMING, BodyEnded): frozenset({Phase.DONE, Phase.WAITING, Phase.OVER}),
    (Phase.STREAMING, Failed): frozenset({Phase.WAITING, Phase.OVER}),
    (Phase.WAITING, Waited): frozenset({Phase.ASKING}),
    (Phase.RENEWING, Renewed): frozenset({Phase.ASKING, Phase.OVER}),
    (Phase.RENEWING, Failed): frozenset({Phase.WAITING, Phase.OVER}),
}
"""(phase, event kind) -> the phases it may lead to; every other pair is refused."""


@dataclass
class Budget:
    """Retryable failures without progress, and whether any byte ever came."""

    policy: RetryPolicy
    attempts: int = 0
    ever_progressed: bool = False

    def progressed(self) -> None:
        self.attempts = 0
        self.ever_progressed = True

    def pause(self, error: TransferError, rand: Callable[[], float]) -> float | None:
        """Seconds to wait before asking again, or None: give up with `error`.

        A host never reached while no byte ever came is not waited for here: the
        item's own retry schedule frees the slot and spaces the tries."""
        if not error.retryable:
            return None
        if isinstance(error, NetworkError) and not error.reached and not self.ever_progressed:
            return None
        self.attempts += 1
        if self.attempts > self.policy.attempts:
            return None
        return next_delay(
            self.attempts - 1,
            retry_after=getattr(error, "retry_after", None),
            base=self.policy.backoff_base,
            cap=self.policy.backoff_cap,
            rand=rand,
            retry_after_cap=self.policy.retry_after_cap,
        )


@dataclass
class Known:
    """What is known of the object, shared by every stream of one transfer."""

    total: int | None = None
    validator: str | None = None
    ranges_supported: bool = True
    signed: bool = False  # a URL that a fresh one can replace (403/410 renew it)


@dataclass
class StreamLife:
    """One stream: the probe (`fresh`) or a segment's requests, until done or over."""

    segment: Segment
    known: Known
    policy: RetryPolicy
    now: Callable[[], datetime]
    rand: Callable[[], float]
    fresh: bool = False
    url: str | None = None  # redacted, for errors
    phase: Phase = Phase.ASKING  # STREAMING for a segment handed the probe's answer
    budget: Budget = field(init=False)
    _pos_at_ask: int = field(init=False)
    _refused: Answered = field(init=False, default=Answered(0))  # the answer being renewed

    def __post_init__(self) -> None:
        self.budget = Budget(self.policy)
        self._pos_at_ask = self.segment.pos

    def first(self) -> Ask:
        """The first request."""
        return self._ask()

    def step(self, event: Event) -> Action:
        """Take `event` in the current phase; the action it calls for."""
        allowed = EDGES.get((self.phase, type(event)))
        if allowed is None:
            raise LifeError(f"{type(event).__name__} while {self.phase}")
        before = self.phase
        match event:
            case Answered():
                action = self._answered(event)
            case Wrote():
                action = self._wrote(event)
            case BodyEnded():
                action = self._body_ended()
            case Failed():
                action = self._failed(event)
            case Waited():
                action = self._ask()
            case Renewed():
                action = self._renewed(event)
        if self.phase not in allowed:  # pragma: no cover - the table and handlers disagree
            raise LifeError(f"{type(event).__name__}: {before} -> {self.phase}")
        return action

    # ---- handlers ------------------------------------------------------------
    def _answered(self, event: Answered) -> Action:
        known = self.known
        judgement = judge_response(
            event.status,
            content_range=event.content_range,
            content_length=event.content_length,
            etag=event.etag,
            last_modified=event.last_modified,
            asked=self.segment,
            known_total=None if self.fresh else known.total,
            known_validator=None if self.fresh else known.validator,
            fresh=self.fresh,
        )
        if judgement.verdict is Verdict.WRITE:
            self.phase = Phase.STREAMING
            return Stream(judgement)
        if judgement.verdict is Verdict.RESTART:
            if self.fresh:  # 416 for bytes=0-
                error = HTTPStatusError(event.status, url=self.url, detail="empty object")
                return self._failed(Failed(error))
            return self._over(Over(ObjectChanged(judgement.reason, url=self.url), restart=True))
        if judgement.verdict is Verdict.RETRY and event.status < 300:
            return self._failed(Failed(ProtocolViolation(judgement.reason, url=self.url)))
        verdict = classify_status(event.status, signed_url=self.known.signed)
        if verdict is RetryVerdict.REFRESH_URL:
            self.phase = Phase.RENEWING
            self._refused = event
            return Renew(event.status, event.detail)
        error = HTTPStatusError(
            event.status,
            url=self.url,
            retryable=verdict is RetryVerdict.RETRY,
            retry_after=_retry_after(event.retry_after, now=self.now()),
            detail=event.detail,
        )
        return self._failed(Failed(error))

    def _wrote(self, event: Wrote) -> Action:
        self.segment.pos += event.length
        return None

    def _body_ended(self) -> Action:
        segment = self.segment
        if segment.end is None:  # a length no header told: the file ends here
            segment.end = segment.pos
            self.known.total = segment.pos
        if segment.done:
            self.phase = Phase.DONE
            return Finished()
        error = ProtocolViolation(
            f"body ended at byte {segment.pos} of {segment.end}", url=self.url
        )
        return self._failed(Failed(error))

    def _failed(self, event: Failed) -> Action:
        error = event.error
        if not self.fresh:
            if error.retryable and not self.known.ranges_supported:
                why = ObjectChanged(f"{error}; server does not support ranges", url=self.url)
                return self._over(Over(why, restart=True))
            if self.segment.pos > self._pos_at_ask:
                self.budget.progressed()
        delay = self.budget.pause(error, self.rand)
        if delay is None:
            return self._over(Over(error))
        self.phase = Phase.WAITING
        return Sleep(delay, str(error))

    def _renewed(self, event: Renewed) -> Action:
        if event.renewed:
            return self._ask()
        refused = self._refused
        return self._failed(Failed(URLExpired(refused.status, url=self.url, detail=refused.detail)))

    # ---- helpers ---------------------------------------------------------------
    def _ask(self) -> Ask:
        self.phase = Phase.ASKING
        self._pos_at_ask = self.segment.pos
        validator = None if self.fresh else self.known.validator
        return Ask(self.segment.range_header(), validator)

    def _over(self, action: Over) -> Action:
        self.phase = Phase.OVER
        return action
