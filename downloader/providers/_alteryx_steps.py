"""An Alteryx job as a step machine: from its memo and the last answer, the next step. Pure.

The job is read without its messages (they can be many) until it no longer runs;
its answer is then kept in the memo and its messages asked for once::

    memo          question                           answer             next step
    {}            GET /v3/jobs/{id}?includeMessages=false  running      wait (`waiting`)
                                                     finished           ask its messages;
                                                                        memo the job's answer
    `messages`    GET /v3/jobs/{id}/messages         messages           judge the job
                                                     refused, unreadable  judge it without them
                                                                        (and say why)

Completed is not success: a disposition outside `accept` fails the job, its error
messages giving the reason.  Only I/O-free modules may be imported here.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import quote

from downloader.errors import MalformedResponse, RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._parse_alteryx import error_texts, parse_job, parse_messages
from downloader.providers._parse_common import RemoteState
from downloader.providers._steps import Ask, Fail, Fetch, Memo, Note, Refused, Step, Wait

__all__ = ["REFUSALS", "alteryx_step"]

REFUSALS = frozenset(range(400, 600))
"""The messages are not worth failing for: any final refusal (403: only Curators may
read them) leaves the job to go on without them."""


def alteryx_step(item: ItemRef, memo: Memo, answer: Any | None, *, accept: Collection[str]) -> Step:
    """The next step of Alteryx job `item`; `answer` None: its stage's first question.

    `accept`: the dispositions of a completed job that count as success."""
    job_id = item.ids[0]
    ident = quote(job_id, safe="")
    if "job" in memo:
        if answer is None:
            return _messages(job_id)
        return _judged(job_id, memo["job"], answer, accept)
    if answer is None:
        params = {"includeMessages": "false"}
        return Ask("GET", f"/v3/jobs/{ident}", f"Alteryx job {job_id}", "finished", params=params)
    job = parse_job(answer)
    if job.status.state is RemoteState.RUNNING:
        word = job.status.word
        return Wait(word, job.status.known, phase="waiting", detail=word)
    return _messages(job_id, memo={"job": answer})


def _messages(job_id: str, *, memo: Memo | None = None) -> Ask:
    path = f"/v3/jobs/{quote(job_id, safe='')}/messages"
    what = f"Alteryx job {job_id} messages"
    return Ask("GET", path, what, "available", memo=memo, refusals=REFUSALS)


def _judged(job_id: str, job_answer: Any, answer: Any, accept: Collection[str]) -> Step:
    notes: tuple[Note, ...] = ()
    messages = None
    if isinstance(answer, Refused):
        reason = answer.message
    else:
        try:
            messages = parse_messages(answer)
        except MalformedResponse as exc:
            reason = str(exc)
    if messages is None:
        notes = (("provider.messages_unavailable", {"reason": reason}),)
    job = parse_job(job_answer)
    failure = job.failure(accept, error_texts(messages or ()))
    if failure is not None:
        return Fail(failure, RemoteJobFailed, notes=notes)
    return Fetch(None, None, {"job": job, "messages": messages}, notes=notes)
