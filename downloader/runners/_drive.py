"""The shell that runs an adapter's step machine: asks, waits on the schedule, stores.

It is the runner's, lent to each adapter as its `Drive` (the registry is handed it
where the providers are built): the adapters keep their pure machines and parsing.

`drive` feeds a machine (`Machine`: the item's memo and the platform's last answer
to the next `Step`) until it says `Fetch`.  Each `Ask` that opens a stage is sent
through the API client on the item's `Poller` until an answer moves the item on:
a `Wait` is the poller's "not yet" (slept; in a turn, a long one returns `Parked`
to the runner, which parks the item until then),
a passing failure is asked again on the same schedule, an unreadable answer counts
toward its limit.  A memo a step carries is stored before the next question, so
a later turn starts where this one stopped.  A `Fail` is raised, its message
cleaned of credentials.
"""

from __future__ import annotations

from typing import Any, overload

from downloader.errors import ApiError, MalformedResponse, ProviderError
from downloader.providers._api import ApiClient
from downloader.providers._poll import NotYet, PhaseTracker, Poller
from downloader.providers._steps import Ask, Fail, Fetch, Machine, Memo, Refused, Route, Wait
from downloader.providers._turn import Parked, Turn
from downloader.providers._types import PackageMemo

__all__ = ["Machine", "drive"]


@overload
async def drive(machine: Machine, route: Route, turn: None = None) -> Fetch: ...


@overload
async def drive(machine: Machine, route: Route, turn: Turn | None) -> Fetch | Parked: ...


async def drive(machine: Machine, route: Route, turn: Turn | None = None) -> Fetch | Parked:
    """Run `machine` until it fetches, or, in `turn`, until a long wait parks the item
    (`Parked`, returned: its memo says where the next turn starts).  Raises what it
    fails with (and the poller's `PollTimeout`, `MalformedResponse`, or an `ApiError`
    that is not passing).  The route's `log` is told of the events the questions
    name."""
    api, poller, memo, phases, log = route.api, route.poller, route.memo, route.phases, route.log
    stored: Memo = await memo.load() or {}
    step = machine(stored, None)
    while True:
        if isinstance(step, Fetch | Fail) and log is not None:
            for event, fields in step.notes:
                log.warning(event, **fields)
        if isinstance(step, Fetch):
            if step.memo is not None:
                await memo.save(step.memo)
            return step
        if isinstance(step, Fail):
            raise await _failed(step, api, memo)
        if isinstance(step, Wait):  # a machine waits only on an answer, never on nothing
            raise ProviderError(f"nothing asked yet, so nothing to wait for: {step.status}")
        if step.memo is not None:
            stored = step.memo
            await memo.save(stored)
        if step.event and log is not None:
            log.info(step.event, download_id=stored.get("download_id"))
        if step.phase is not None and phases is not None:
            await phases.enter(step.phase, step.detail)
        view = {**stored, **step.scratch} if step.scratch else stored
        answered = await _answered(machine, step, view, api, poller, phases, turn)
        if isinstance(answered, Parked):
            return answered
        step = answered


async def _answered(
    machine: Machine,
    ask: Ask,
    memo: Memo,
    api: ApiClient,
    poller: Poller,
    phases: PhaseTracker | None,
    turn: Turn | None,
) -> Ask | Fetch | Fail | Parked:
    """`ask` on the poll schedule until its answer moves the item on: the next step.

    A `Fail` is returned, not raised here, so the poller never counts it as an
    unreadable answer to ask again."""

    async def once() -> Ask | Fetch | Fail | NotYet:
        answer: Any
        try:
            answer = await api.call(ask.method, ask.path, params=ask.params, json_body=ask.body)
        except ApiError as exc:
            if exc.retryable or exc.status not in ask.refusals:
                raise
            answer = Refused(exc.status, str(exc))
        try:
            step = machine(memo, answer)
        except MalformedResponse as exc:
            if ask.repeat_unreadable:
                raise  # counted by the poller toward its limit
            return Fail(str(exc), MalformedResponse)
        if isinstance(step, Wait):
            if step.phase is not None and phases is not None:
                await phases.enter(step.phase, step.detail)
            return NotYet(step.status, step.known)
        return step

    return await poller.until(once, what=ask.what, goal=ask.goal, turn=turn)


async def _failed(fail: Fail, api: ApiClient, memo: PackageMemo) -> ProviderError:
    if fail.memo is not None:
        await memo.save(fail.memo)
    return fail.kind(api.clean(fail.message))
