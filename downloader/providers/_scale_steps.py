"""A Scale job as a step machine: from its memo and the last answer, the next step. Pure.

v6 reads the job until it ends, then its product files from the files list, page
by page; the memo keeps the finished job (stage `files`), so a later turn reads
only the list.  A 3.x server's job answer carries its files inline::

    memo       question                         answer            next step
    {}         GET /v6/jobs/{id}/ (/jobs/{id}/)  completed         v6: list the files, memo
                                                                   `files`; 3.x: fetch them
                                                pending, running  wait (`waiting`)
                                                failed, canceled  fail (`RemoteJobFailed`)
    `files`    GET /v6/files/?job_id=..         a page, `next`    the next page (scratch:
               (then each `next` link)                             the files so far)
                                                the last page     fetch every file listed

A `next` link that cannot be read, or that goes round in circles, fails at once.
Only I/O-free modules may be imported here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from downloader.errors import MalformedResponse, RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._parse_common import RemoteState
from downloader.providers._parse_scale import (
    next_page_url,
    parse_files_page,
    parse_job,
    parse_legacy_job,
)
from downloader.providers._steps import Ask, Fail, Fetch, Memo, Step, Wait

__all__ = ["FILES", "MAX_PAGES", "scale_step"]

MAX_PAGES = 10_000
"""File-list pages followed for one job before the list is taken to be looping."""

FILES = {"stage": "files"}
"""The memo of a v6 job known to be finished: only its files are listed."""


def scale_step(
    item: ItemRef, memo: Memo, answer: Any | None, *, legacy: bool, base_url: str
) -> Step:
    """The next step of Scale job `item`; `answer` None: its stage's first question.

    `base_url` is the API's: every page link is followed on its origin."""
    job_id = item.ids[0]
    label = f"Scale job {job_id}"
    if memo.get("stage") == FILES["stage"] and not legacy:
        if answer is None:
            return _first_page(job_id, label)
        return _page(label, memo, answer, base_url)
    if answer is None:
        ident = quote(job_id, safe="")
        path = f"/jobs/{ident}/" if legacy else f"/v6/jobs/{ident}/"
        return Ask("GET", path, label, goal="finished")
    job = (parse_legacy_job if legacy else parse_job)(answer)
    if job.status.state is RemoteState.FAILED:
        return Fail(job.failure(), RemoteJobFailed)
    if job.status.state is not RemoteState.SUCCEEDED:
        word = job.status.word
        return Wait(word, job.status.known, phase="waiting", detail=word)
    if legacy:
        return Fetch(None, None, {"files": job.files})
    return _first_page(job_id, label, memo=FILES)


def _first_page(job_id: str, label: str, *, memo: Memo | None = None) -> Ask:
    params = {"job_id": job_id, "file_type": "PRODUCT"}
    return Ask(
        "GET", "/v6/files/", f"{label} file list", goal="available", params=params, memo=memo
    )


def _page(label: str, memo: Memo, answer: Any, base_url: str) -> Step:
    page = parse_files_page(answer)
    files = (*memo.get("files", ()), *page.files)
    if page.next_url is None:
        return Fetch(None, None, {"files": files})
    what = f"{label} file list"
    try:
        url = next_page_url(page.next_url, base_url)
    except MalformedResponse as exc:  # not the answer's fault alone: asking again won't help
        return Fail(str(exc), MalformedResponse)
    seen: frozenset[str] = memo.get("seen", frozenset())
    if url in seen or len(seen) >= MAX_PAGES:
        return Fail(f"{what}: its 'next' links go round in circles", MalformedResponse)
    scratch = {"files": files, "seen": seen | {url}}
    return Ask("GET", url, what, goal="available", scratch=scratch)
