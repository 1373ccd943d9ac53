"""Hooks without an event loop: the `[[hooks]]` config, which hooks an event goes to,
its id and document, a command's arguments, the backoff, and what `status` says."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from downloader.config import HookSettings, parse_config
from downloader.hooks._plan import (
    PayloadEntry,
    command_argv,
    delivery_delay,
    event_id,
    hooks_for,
    plan_outbox,
)
from downloader.items import ItemRef
from downloader.runners._hook_status import hook_json, hook_lines
from downloader.runners._progress import hooks_left_text
from downloader.store._outbox_models import OutboxRecord

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
REF = ItemRef("scale", "job", ("501",))
INGEST = HookSettings("ingest", frozenset({"archived"}), command=("/bin/ingest", "{archive_path}"))
ALARM = HookSettings("alarm", frozenset({"failed", "archived"}), url="https://h.example/x")


def _parse(text: str) -> tuple[tuple[HookSettings, ...], list[tuple[str, int | None, str]]]:
    report = parse_config(textwrap.dedent(text), file="c.toml", base_dir=Path("/"), environ={})
    hooks = report.settings.hooks if report.settings is not None else ()
    return hooks, [(p.key, p.line, p.message) for p in report.problems]


def test_hooks_are_read_with_their_defaults_and_names() -> None:
    hooks, problems = _parse(
        """
        [[hooks]]
        on = ["archived"]
        command = ["/usr/local/bin/ingest", "{archive_path}", "--item={item}"]

        [[hooks]]
        name = "tell"
        on = ["archived", "failed"]
        url = "https://hooks.example.org/events?token=abc"
        timeout = "5s"
        retry_delay = "1s"
        max_delay = "1m"
        """
    )
    assert problems == []
    first, second = hooks
    assert first == HookSettings(
        "hook-1",
        frozenset({"archived"}),
        command=("/usr/local/bin/ingest", "{archive_path}", "--item={item}"),
    )
    assert (second.name, second.on, second.url) == (
        "tell",
        frozenset({"archived", "failed"}),
        "https://hooks.example.org/events?token=abc",
    )
    assert (second.timeout, second.retry_delay, second.max_delay) == (5.0, 1.0, 60.0)


def test_each_problem_of_a_hook_is_named_by_file_line_and_key() -> None:
    _, problems = _parse(
        """
        [[hooks]]
        on = ["archived"]
        command = ["/bin/a"]
        url = "https://h.example/x"

        [[hooks]]
        on = ["done"]
        command = []

        [[hooks]]
        on = ["failed"]
        url = "ftp://h.example/secret-token-123"
        colour = "red"

        [[hooks]]
        command = ["/bin/b", "{path}"]

        [[hooks]]
        name = "x"
        on = ["failed"]
        url = "https://h.example/x"
        retry_delay = "2m"
        max_delay = "1m"
        """
    )
    by_key = {key: (line, message) for key, line, message in problems}
    assert by_key["hooks[0].command"] == (4, "give either command or url, not both")
    assert by_key["hooks[1].on"][0] == 8
    assert "unknown event 'done'" in by_key["hooks[1].on"][1]
    assert by_key["hooks[1].command"][0] == 9
    assert "non-empty list of strings" in by_key["hooks[1].command"][1]
    assert by_key["hooks[2].url"] == (13, "must be an http:// or https:// URL")
    assert "unknown key 'colour'" in by_key["hooks[2].colour"][1]
    assert by_key["hooks[3].on"][1].startswith("missing required key")
    assert "unknown placeholder {path}" in by_key["hooks[3].command"][1]
    assert by_key["hooks[4].retry_delay"][1] == "must not be longer than max_delay"
    # a URL may carry a token: no message repeats it
    assert not any("secret-token-123" in message for _, _, message in problems)


def test_two_hooks_of_one_name_are_refused() -> None:
    _, problems = _parse(
        """
        [[hooks]]
        name = "a"
        on = ["failed"]
        command = ["/bin/a"]
        [[hooks]]
        name = "a"
        on = ["archived"]
        command = ["/bin/b"]
        """
    )
    assert problems == [("hooks[1].name", 7, "another hook is named 'a'")]


def test_hooks_not_an_array_of_tables_is_a_problem() -> None:
    _, problems = _parse('hooks = "yes"\n')
    assert [(key, message) for key, _, message in problems] == [
        ("hooks", "expected [[hooks]] entries (an array of tables), got a string")
    ]


def test_an_event_goes_to_each_hook_that_is_on_it_in_order() -> None:
    assert hooks_for([INGEST, ALARM], "archived") == (INGEST, ALARM)
    assert hooks_for([INGEST, ALARM], "failed") == (ALARM,)
    assert plan_outbox([], "archived", REF, at=T0) == ()


def test_an_archived_event_carries_the_item_its_bag_and_payload_digests() -> None:
    files = [PayloadEntry("data/a.tif", 10, "ab" * 32)]
    rows = plan_outbox([INGEST, ALARM], "archived", REF, at=T0, archive_path="/a/x", files=files)
    assert [(r.hook, r.kind, r.item_key) for r in rows] == [
        ("ingest", "archived", REF.key),
        ("alarm", "archived", REF.key),
    ]
    document = json.loads(rows[0].document)
    assert document == {
        "event_id": rows[0].event_id,
        "event": "archived",
        "hook": "ingest",
        "item": "scale:job:501",
        "provider": "scale",
        "kind": "job",
        "ids": ["501"],
        "source": None,
        "state": "archived",
        "at": "2026-12-07T10:00:00Z",
        "archive_path": "/a/x",
        "files": [{"path": "data/a.tif", "size": 10, "sha256": "ab" * 32}],
        "error": None,
    }
    (failed,) = plan_outbox([INGEST, ALARM], "failed", REF, at=T0, error="HTTP 404")
    assert json.loads(failed.document)["error"] == "HTTP 404"
    (listed,) = plan_outbox([INGEST], "archived", REF, at=T0, listed_by="scale:jobs:q")
    assert json.loads(listed.document)["source"] == "scale:jobs:q"


def test_an_event_id_is_the_same_for_the_same_event_and_differs_otherwise() -> None:
    ident = event_id(REF.key, "archived", "ingest", T0)
    assert ident == event_id(REF.key, "archived", "ingest", T0)
    assert len(ident) == 32
    others = {
        event_id(REF.key, "failed", "ingest", T0),
        event_id(REF.key, "archived", "alarm", T0),
        event_id(REF.key, "archived", "ingest", T0 + timedelta(microseconds=1)),
        event_id("scale:job:502", "archived", "ingest", T0),
    }
    assert ident not in others
    assert len(others) == 4


def test_a_command_names_the_item_its_bag_and_state_and_keeps_other_braces() -> None:
    template = ("/bin/ingest", "{archive_path}", "--item={item}", "{state}", '{"k": 1}', "{x}")
    archived = {"item": "http:file:a", "archive_path": "/arch/http/a", "state": "archived"}
    assert command_argv(template, archived) == [
        "/bin/ingest",
        "/arch/http/a",
        "--item=http:file:a",
        "archived",
        '{"k": 1}',
        "{x}",
    ]
    failed = {"item": "http:file:a", "archive_path": None, "state": "failed"}
    assert command_argv(template, failed)[1:4] == ["", "--item=http:file:a", "failed"]


def test_deliveries_back_off_doubling_up_to_the_ceiling() -> None:
    hook = HookSettings("h", frozenset({"archived"}), url="http://h", retry_delay=2, max_delay=10)
    assert [delivery_delay(n, hook) for n in range(1, 6)] == [2, 4, 8, 10, 10]
    assert delivery_delay(10_000, hook) == 10
    with pytest.raises(ValueError, match="at least 1"):
        delivery_delay(0, hook)


def _record(item: str, attempts: int, error: str | None = None) -> OutboxRecord:
    return OutboxRecord(
        event_id=f"id-{item}",
        item_key=item,
        hook="ingest",
        kind="archived",
        document="{}",
        created_at=T0,
        attempts=attempts,
        next_attempt_at=T0 + timedelta(seconds=40),
        delivered_at=None,
        last_error=error,
        lease_owner=None,
        lease_expires_at=None,
    )


def test_status_shows_hooks_that_failed_and_lists_every_undelivered_event_in_json() -> None:
    records = [_record("a", 3, "exit status 2: boom"), _record("b", 0)]
    line = "    hook ingest (archived): not delivered, 3 tries, next in 40s: exit status 2: boom"
    assert hook_lines(records, T0) == {"a": [line]}
    shown = hook_json(records)
    assert sorted(shown) == ["a", "b"]
    assert shown["a"] == [
        {
            "hook": "ingest",
            "event": "archived",
            "event_id": "id-a",
            "attempts": 3,
            "last_error": "exit status 2: boom",
            "next_attempt_at": "2026-12-07T10:00:40Z",
        }
    ]
    assert hook_lines([_record("c", 1)], T0 + timedelta(minutes=1)) == {
        "c": ["    hook ingest (archived): not delivered, 1 try, next now"]
    }


def test_the_summary_of_once_says_how_many_events_the_next_run_delivers() -> None:
    assert hooks_left_text(0) == ""
    assert hooks_left_text(1) == "; 1 hook event not delivered yet (the next run will)"
    assert hooks_left_text(3).startswith("; 3 hook events")
