"""The pure parts of sources: entries, keys, `since`, the listing schedule, page parsers,
and the store's plan for a changed watchlist.  No event loop, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from downloader.errors import MalformedResponse
from downloader.items import ItemRef
from downloader.providers._parse_sources import (
    Entry,
    alteryx_jobs_page,
    pixxel_order_items_page,
    pixxel_workflow_jobs,
    scale_jobs_page,
)
from downloader.providers._sources import newest
from downloader.sources import SourceRef, created_ok, next_interval, parse_time
from downloader.store._sources_rows import plan_sources, wanted_refs
from downloader.watchlist import parse_watchlist

SINCE = datetime(2026, 11, 1, tzinfo=UTC)

WATCHLIST = """\
[[pixxel.workflow]]
workflow_id = "wf-1"
since = 2026-11-01T00:00:00Z

[[pixxel.order]]
id = "order-7"

[[scale.jobs]]
job_type_name = "landsat8-ingest"
job_type_id = 12

[[alteryx.workflow]]
id = "66ebd0f83d62000070000b12"
since = "2026-11-01T01:00:00+01:00"

[[pixxel.job]]
workflow_id = "wf-1"
job_id = "job-1"
"""


def test_the_four_source_kinds_are_read_with_their_keys_beside_the_items() -> None:
    parse = parse_watchlist(WATCHLIST, file="w.toml")
    assert parse.problems == ()
    assert [ref.key for ref in parse.items] == ["pixxel:job:wf-1/job-1"]
    assert [ref.key for ref in parse.sources] == [
        "pixxel:workflow:wf-1",
        "pixxel:order:order-7",
        "scale:jobs:job_type_id=12&job_type_name=landsat8-ingest",
        "alteryx:workflow:66ebd0f83d62000070000b12",
    ]
    assert parse.sources[0].since == SINCE
    assert parse.sources[3].since == SINCE  # 01:00 at +01:00


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("[[pixxel.workflow]]\nid = 'x'", "unknown field (expected: workflow_id, since)"),
        ("[[pixxel.workflow]]\nworkflow_id = 'a'\nsince = 2026-11-01T00:00:00", "zone"),
        ("[[pixxel.order]]\nid = 'a/b'", "must not contain '/'"),
        ("[[scale.jobs]]\nsince = 2026-11-01T00:00:00Z", "give at least one of"),
        ("[[alteryx.workflow]]\nid = 'w'\nsince = 'yesterday'", "ISO 8601"),
        ("[[alteryx.flows]]\nid = 'w'", "[[alteryx.workflow]]"),
    ],
)
def test_a_bad_source_entry_is_a_problem_with_its_line_and_the_rest_runs(
    entry: str, problem: str
) -> None:
    parse = parse_watchlist(entry + "\n[[http.file]]\nurl = 'https://h/x'\n", file="w.toml")
    assert any(problem in str(p) for p in parse.problems), parse.problems
    assert {p.line for p in parse.problems} == {1}
    assert len(parse.items) == 1
    assert parse.sources == ()


def test_a_source_lists_items_under_the_keys_their_own_entries_would_have() -> None:
    workflow = SourceRef("pixxel", "workflow", (("workflow_id", "wf"),))
    assert workflow.item("j1") == ItemRef("pixxel", "job", ("wf", "j1"))
    order = SourceRef("pixxel", "order", (("id", "o"),))
    assert order.item("oi-1").key == "pixxel:order_item:oi-1"
    assert SourceRef("scale", "jobs", (("job_type_id", "3"),)).item("15").key == "scale:job:15"
    assert SourceRef("alteryx", "workflow", (("id", "w"),)).item("a1").key == "alteryx:job:a1"
    with pytest.raises(ValueError, match=r"'\.\.'"):
        workflow.item("..")


def test_a_source_definition_survives_the_store() -> None:
    ref = SourceRef("scale", "jobs", (("job_type_name", "x"),), SINCE)
    assert SourceRef.from_definition(ref.definition()) == ref
    assert SourceRef.from_definition(ref.definition()).since == SINCE


def test_since_keeps_jobs_created_at_or_after_it_and_those_whose_time_is_unreadable() -> None:
    assert created_ok("2026-11-01T00:00:00Z", SINCE)
    assert created_ok("2026-11-01T00:00:00.5Z", SINCE)
    assert not created_ok("2026-10-31T23:59:59.999Z", SINCE)
    assert created_ok("2026-11-01T01:00:00+02:00", None)
    assert not created_ok("2026-11-01T01:00:00+02:00", SINCE)
    assert created_ok("last tuesday", SINCE)
    assert created_ok(None, SINCE)
    assert parse_time("2026-11-01T00:00:00") == SINCE  # no zone: UTC


def test_listings_come_sooner_while_they_find_something_new() -> None:
    first, most = timedelta(seconds=5), timedelta(minutes=5)
    assert next_interval(None, False, first=first, most=most) == first
    assert next_interval(timedelta(seconds=40), True, first=first, most=most) == first
    assert next_interval(timedelta(seconds=40), False, first=first, most=most) == 2 * timedelta(
        seconds=40
    )
    assert next_interval(timedelta(minutes=4), False, first=first, most=most) == most


def test_the_cursor_is_the_newest_time_seen() -> None:
    times = ["2026-11-02T00:00:00Z", None, "2026-11-03T00:00:00.000Z", "junk"]
    assert newest(times, None) == "2026-11-03T00:00:00.000Z"
    assert newest(times, "2026-12-01T00:00:00Z") == "2026-12-01T00:00:00Z"
    assert newest([], None) is None


def test_list_pages_give_their_entries_and_leave_out_what_cannot_be_an_item() -> None:
    jobs = {"jobs": [{"id": "j1", "created_at": "t1"}, {"id": ""}, "junk", {"id": 7}]}
    assert pixxel_workflow_jobs(jobs, "w") == (Entry("j1", "t1"), Entry("7"))
    page = pixxel_order_items_page(
        {
            "order_items": [{"id": "a", "order_id": "o"}, {"id": "b", "order_id": "other"}],
            "pagination": {"total": 9},
        },
        "w",
        "o",
    )
    assert (page.entries, page.size, page.total) == ((Entry("a"),), 2, 9)
    drf = {"next": None, "results": [{"id": 15, "created": "c", "last_modified": "m"}, {"id": -1}]}
    assert scale_jobs_page(drf, "w").entries == (Entry("15", "c", "m"),)
    assert alteryx_jobs_page([{"id": "x", "createDate": "d"}], "w").entries == (Entry("x", "d"),)
    for bad in ("<html>", {"jobs": None}, {"results": 3}):
        with pytest.raises(MalformedResponse):
            pixxel_workflow_jobs(bad, "w")
    with pytest.raises(MalformedResponse):
        alteryx_jobs_page({"jobs": []}, "w")


def test_the_store_plan_adds_updates_and_retires_sources() -> None:
    a = SourceRef("pixxel", "order", (("id", "a"),))
    b = SourceRef("pixxel", "order", (("id", "b"),), SINCE)
    c = SourceRef("pixxel", "order", (("id", "c"),))
    known = {a.key: (True, a.definition()), b.key: (True, "old"), "pixxel:order:d": (True, "d")}
    known[c.key] = (False, c.definition())
    insert, update, off = plan_sources(
        known, [a, b, c, SourceRef("pixxel", "order", (("id", "e"),))]
    )
    assert [r.key for r in insert] == ["pixxel:order:e"]
    assert sorted(r.key for r in update) == [b.key, c.key]  # changed, and back again
    assert off == ["pixxel:order:d"]


def test_an_item_named_by_its_entry_and_by_a_source_is_one_item_with_its_entry() -> None:
    own = ItemRef("http", "file", ("h/x",), url="https://h/x")
    wanted = wanted_refs([own], ["http:file:h/x", "scale:job:4"])
    assert [r.key for r in wanted] == ["http:file:h/x", "scale:job:4"]
    assert wanted[0].url == "https://h/x"
