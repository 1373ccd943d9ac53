"""The shell around `_life.StreamLife`: carries out each action a stream's life returns
(ask, stream, sleep, renew) and feeds it what came of it, for the probe and for each
segment of a transfer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from downloader.errors import TransferError, VerificationError
from downloader.transfer import _events as ev
from downloader.transfer._body import stream
from downloader.transfer._checkpoint import Checkpoint
from downloader.transfer._course import is_whole_body, plan_transfer
from downloader.transfer._events import Action, Event
from downloader.transfer._http import answered, offered_digests, open_response
from downloader.transfer._life import Known, Phase, StreamLife
from downloader.transfer._names import choose_filename, sanitize_filename
from downloader.transfer._plan import Judgement, Segment
from downloader.transfer._reply import Reply
from downloader.transfer._sources import Slot
from downloader.transfer._vet import check_first, coding_of

if TYPE_CHECKING:
    from downloader.transfer._transfer import Transfer

log = structlog.get_logger("downloader.transfer")


class Restart(Exception):
    """The bytes on disk cannot be continued: the transfer starts from zero."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_life(t: Transfer, segment: Segment, known: Known, *, fresh: bool = False) -> StreamLife:
    e = t.e
    return StreamLife(
        segment, known, e.retry, e.clock.utcnow, e.rand, fresh=fresh, url=t.redacted()
    )


async def probe(t: Transfer) -> tuple[Slot, Judgement, Reply]:
    """The first request, `bytes=0-`, until an answer that may be the file's start."""
    life = new_life(
        t, Segment(0, None), Known(signed=t.request.refresh_url is not None), fresh=True
    )
    action: Action = life.first()
    generation = 0
    while True:
        if isinstance(action, ev.Ask):
            event, slot, generation = await _ask(t, life, action)
            action = life.step(event)
            if not isinstance(action, ev.Stream):
                if slot is not None:
                    slot.release()
                continue
            assert slot is not None
            assert slot.resp is not None
            resp = slot.resp
            try:
                await check_first(resp, action.judgement.total, resp.url, t.promised)
            except BaseException as exc:
                slot.release()
                if not isinstance(exc, TransferError):
                    raise
                action = life.step(ev.Failed(exc))
                continue
            t.status = resp.status
            t.encoding = coding_of(resp, t.encoding, t.request.key)
            return slot, action.judgement, resp
        action = await _carry_out(t, life, action, generation)


async def probe_new_file(t: Transfer) -> Slot:
    """The first answer of a file with no checkpoint: its name, its plan and the digests
    it offers become the transfer's checkpoint; the answer's slot, still open."""
    slot, judgement, resp = await probe(t)
    name = t.request.filename and sanitize_filename(t.request.filename)
    name = name or choose_filename(
        resp.headers.get("Content-Disposition"),
        resp.url if t.request.name_from_url else None,
        t.request.fallback_name,
    )
    plan = plan_transfer(judgement, t.e.limits)
    t.cp = Checkpoint(
        plan.validator, plan.total, name, plan.ranges_supported, plan.segments, offered=[]
    )
    offered_digests(resp, t.cp.offered, whole_body=True)
    return slot


async def run_segment(t: Transfer, segment: Segment, known: Known, first: Slot | None) -> None:
    """Fetch one segment, from the probe's answer when `first` holds it."""
    life = new_life(t, segment, known)
    action: Action
    if first is not None:
        life.phase = Phase.STREAMING
        action = await _stream(t, life, first)
    else:
        action = life.first()
    generation = 0
    while not isinstance(action, ev.Finished):
        if isinstance(action, ev.Ask):
            event, slot, generation = await _ask(t, life, action)
            action = life.step(event)
            if isinstance(action, ev.Stream):
                assert slot is not None
                assert slot.resp is not None
                whole = is_whole_body(action.judgement, known.total)
                offered_digests(slot.resp, t.offered, whole_body=whole)
                t.encoding = coding_of(slot.resp, t.encoding, t.request.key)
                action = await _stream(t, life, slot)
            elif slot is not None:
                slot.release()
        else:
            action = await _carry_out(t, life, action, generation)
    if t.cp is not None and t.cp.total is None:
        t.cp.total = known.total


async def _ask(t: Transfer, life: StreamLife, ask: ev.Ask) -> tuple[Event, Slot | None, int]:
    """Send the request; the answer (or the failure) as an event, and the slot holding it."""
    generation = t.urls.generation
    slot: Slot | None = None
    try:
        url, generation = await t.urls.get()
        slot = Slot(t.e.host_limiter(url))
        await slot.acquire()
        slot.resp = await open_response(t.e, t.request, url, ask.range, validator=ask.if_range)
        event: Event = await answered(slot.resp)
    except BaseException as exc:
        if slot is not None:
            slot.release()
        if not isinstance(exc, TransferError):
            raise
        return ev.Failed(exc), None, generation
    return event, slot, generation


async def _stream(t: Transfer, life: StreamLife, slot: Slot) -> Action:
    assert slot.resp is not None
    try:
        await stream(t, life, slot.resp)
        event: Event = ev.BodyEnded()
    except TransferError as exc:
        event = ev.Failed(exc)
    finally:
        slot.release()
    return life.step(event)


async def _carry_out(t: Transfer, life: StreamLife, action: Action, generation: int) -> Action:
    """Sleep, renew, or end as `action` says; the action that comes of it."""
    request = t.request
    if isinstance(action, ev.Sleep):
        log.info(
            "transfer.retry", key=request.key, error=action.why, delay=round(action.seconds, 3)
        )
        if request.on_retry is not None:
            request.on_retry(action.why)
        await t.e.clock.sleep(action.seconds)
        return life.step(ev.Waited())
    if isinstance(action, ev.Renew):
        log.info("transfer.refresh_url", key=request.key, status=action.status, said=action.detail)
        try:
            renewed = await t.urls.refresh(
                generation, may_renew=t.course.may_renew, status=action.status, detail=action.detail
            )
        except TransferError as exc:
            return life.step(ev.Failed(exc))
        return life.step(ev.Renewed(renewed))
    if isinstance(action, ev.Over):
        if action.restart:
            raise Restart(str(action.error))
        raise action.error
    raise AssertionError(f"not carried out here: {action!r}")  # pragma: no cover


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that explains a failed task group best."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    for kind in (Restart, VerificationError, TransferError):
        for exc in leaves:
            if isinstance(exc, kind):
                return exc
    return leaves[0]
