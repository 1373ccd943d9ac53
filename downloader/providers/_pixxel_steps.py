"""A Pixxel job or task as a step machine: from its memo and the last answer, the next step.

Two stages, the second stored in the item's memo once reached, so no later turn
(nor a new process) reads again a job already known to be finished::

    stage       question                           answer               next step
    (none)      GET /v0/workflows/{wf}/jobs/{job}  finished (its task)  ask for the package,
                                                                       memo `package`
                                                   running, pending     wait (`waiting`)
                                                   task not listed yet  wait, while the job runs
                                                   failed               fail (`RemoteJobFailed`)
    `package`   PUT .../download                   ready, with a URL    fetch
                (.../tasks/{task}/download)        pending, no URL yet  wait (`preparing`)
                                                   failed               fail (`RemoteJobFailed`)

Pixxel has no status endpoint for these packages: repeating the PUT is the only way
to poll.  Pure: only I/O-free modules may be imported here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from downloader.errors import RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._parse_common import RemoteState
from downloader.providers._parse_pixxel import (
    JobState,
    PackageState,
    job_failure,
    parse_job,
    parse_package,
)
from downloader.providers._steps import Ask, Fail, Fetch, Memo, Step, Wait

__all__ = ["PACKAGE", "job_step", "judge_package", "package_path"]

PACKAGE = {"stage": "package"}
"""The memo of a job or task known to be finished: only its package is asked for."""


def _q(segment: str) -> str:
    return quote(segment, safe="")


def package_path(item: ItemRef) -> str:
    """Where the package of a job or task item is asked for (and polled, by PUT)."""
    path = f"/v0/workflows/{_q(item.ids[0])}/jobs/{_q(item.ids[1])}"
    if item.kind == "task":
        path = f"{path}/tasks/{_q(item.ids[2])}"
    return path + "/download"


def _label(item: ItemRef) -> str:
    workflow_id, job_id = item.ids[0], item.ids[1]
    if item.kind == "task":
        return f"Pixxel task {item.ids[2]} of job {workflow_id}/{job_id}"
    return f"Pixxel job {workflow_id}/{job_id}"


def job_step(item: ItemRef, memo: Memo, answer: Any | None) -> Step:
    """The next step of a job or task `item`; `answer` None: its stage's first question."""
    if memo.get("stage") == PACKAGE["stage"]:
        what = f"{_label(item)} package"
        if answer is None:
            return Ask("PUT", package_path(item), what, phase="requested")
        return judge_package(parse_package(answer, what), what)
    job_path = f"/v0/workflows/{_q(item.ids[0])}/jobs/{_q(item.ids[1])}"
    if answer is None:
        what = f"Pixxel job {item.ids[0]}/{item.ids[1]}"
        if item.kind == "task":
            what = f"Pixxel task {item.ids[2]}"
        return Ask("GET", job_path, what, goal="finished")
    return _judge_job(item, parse_job(answer))


def _judge_job(item: ItemRef, job: JobState) -> Step:
    label = f"Pixxel job {item.ids[0]}/{item.ids[1]}"
    if item.kind != "task":
        status = job.status
        if status.state is RemoteState.FAILED:
            return Fail(job_failure(job, label), RemoteJobFailed)
    else:
        task_id = item.ids[2]
        task = job.task(task_id)
        if task is None:
            word = job.status.word
            if job.status.state is not RemoteState.RUNNING:
                return Fail(f"{label} {word} without a task {task_id}")
            return Wait(
                f"job {word}, task {task_id} not listed yet", phase="waiting", detail=f"job {word}"
            )
        status = task.status
        if status.state is RemoteState.FAILED:
            reason = f": {task.err_msg}" if task.err_msg else ""
            return Fail(f"{_label(item)} {status.word}{reason}", RemoteJobFailed)
    if status.state is RemoteState.SUCCEEDED:
        what = f"{_label(item)} package"
        return Ask("PUT", package_path(item), what, memo=PACKAGE, phase="requested")
    return Wait(status.word, status.known, phase="waiting", detail=status.word)


def judge_package(state: PackageState, what: str) -> Step:
    """A package answer (a job's PUT, a catalog download's status): fetch, fail or wait."""
    if state.ready and state.signed_url is not None:
        return Fetch(state.signed_url, state.download_id)
    word = state.status.word
    if state.status.state is RemoteState.FAILED:
        return Fail(f"{what}: Pixxel reports {word!r}", RemoteJobFailed)
    if state.status.state is RemoteState.SUCCEEDED:
        return Wait(f"{word} but no signed_url yet", phase="preparing", detail=word)
    return Wait(word, state.status.known, phase="preparing", detail=word)
