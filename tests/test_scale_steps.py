"""A Scale job as a step machine, driven by hand: no loop, no server."""

from __future__ import annotations

from typing import Any

import pytest

from downloader.errors import MalformedResponse, RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._scale_steps import FILES, scale_step
from downloader.providers._steps import Ask, Fail, Fetch, Wait

JOB = ItemRef.parse("scale:job:15")
BASE = "http://127.0.0.1:8000/scale"
PARAMS = {"job_id": "15", "file_type": "PRODUCT"}


def v6(memo: Any, answer: Any) -> Any:
    return scale_step(JOB, memo, answer, legacy=False, base_url=BASE)


def legacy(memo: Any, answer: Any) -> Any:
    return scale_step(JOB, memo, answer, legacy=True, base_url=BASE)


def row(file_id: int, name: str = "a.kml") -> dict[str, Any]:
    return {
        "id": file_id,
        "file_name": name,
        "url": f"http://files.example/{file_id}",
        "file_size": 10,
        "is_deleted": False,
        "is_superseded": False,
    }


def page(*rows: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    return {"count": len(rows), "next": next_url, "results": list(rows)}


def test_a_job_is_read_until_it_ends() -> None:
    assert v6({}, None) == Ask("GET", "/v6/jobs/15/", "Scale job 15", goal="finished")
    assert legacy({}, None) == Ask("GET", "/jobs/15/", "Scale job 15", goal="finished")
    assert v6({}, {"id": 15, "status": "RUNNING"}) == Wait(
        "RUNNING", phase="waiting", detail="RUNNING"
    )
    failed = v6({}, {"id": 15, "status": "FAILED", "error": {"title": "Algorithm Failure"}})
    assert failed == Fail("Scale job 15 failed: Algorithm Failure", RemoteJobFailed)
    assert v6({}, {"id": 15, "status": "CANCELED"}) == Fail(
        "Scale job 15 was canceled", RemoteJobFailed
    )


def test_a_finished_v6_job_is_remembered_and_its_files_listed_page_by_page() -> None:
    listing = v6({}, {"id": 15, "status": "COMPLETED"})
    assert listing == Ask(
        "GET", "/v6/files/", "Scale job 15 file list", goal="available", params=PARAMS, memo=FILES
    )
    # taken up later, the finished job is not read again
    again = v6(FILES, None)
    assert isinstance(again, Ask)
    assert (again.path, again.params, again.memo) == ("/v6/files/", PARAMS, None)
    second = v6(FILES, page(row(1), next_url=f"{BASE}/v6/files/?page=2"))
    assert isinstance(second, Ask)
    assert second.path == f"{BASE}/v6/files/?page=2"
    assert second.scratch is not None
    last = v6({**FILES, **second.scratch}, page(row(2, "b.kml")))
    assert isinstance(last, Fetch)
    assert [f.id for f in last.extra["files"]] == ["1", "2"]


def test_next_links_that_go_round_in_circles_fail_at_once() -> None:
    link = f"{BASE}/v6/files/?page=2"
    second = v6(FILES, page(row(1), next_url=link))
    assert isinstance(second, Ask)
    assert second.scratch is not None
    looped = v6({**FILES, **second.scratch}, page(row(2), next_url=link))
    assert looped == Fail(
        "Scale job 15 file list: its 'next' links go round in circles", MalformedResponse
    )
    bad = v6(FILES, page(row(1), next_url="http://[::1/next"))
    assert isinstance(bad, Fail)
    assert bad.kind is MalformedResponse


def test_a_3x_job_answer_carries_its_files() -> None:
    answer = {
        "id": 15,
        "status": "COMPLETED",
        "outputs": [{"name": "kml", "type": "file", "value": row(3)}],
    }
    done = legacy({}, answer)
    assert isinstance(done, Fetch)
    assert [f.id for f in done.extra["files"]] == ["3"]
    # a 3.x server lists no files: a memo of that stage is read as the job's
    assert legacy(FILES, None) == Ask("GET", "/jobs/15/", "Scale job 15", goal="finished")


def test_an_unreadable_page_is_raised_for_the_schedule_to_count() -> None:
    with pytest.raises(MalformedResponse):
        v6(FILES, {"results": "nope"})
