from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from downloader.errors import ConfigProblem
from downloader.items import ItemRef
from downloader.watchlist import WatchlistParse, load_watchlist, parse_watchlist

CONTRACT_EXAMPLE = """\
[[pixxel.job]]
workflow_id = "wf-123"
job_id = "job-456"

[[pixxel.task]]
workflow_id = "wf-123"
job_id = "job-456"
task_id = "task-789"

[[pixxel.catalog]]
id = "47435e2b-d8c4-51ff-9de9-2be3bfc92276"

[[pixxel.order_item]]
id = "0b7c2d1e-..."

[[scale.job]]
id = 15096

[[alteryx.job]]
id = "66ebd18d3d6200007e000d8c"

[[http.file]]                      # a plain (signed) URL, no platform API
url = "https://bucket.example.org/path/scene.zip?X-Amz-Expires=3600&X-Amz-Signature=..."
# id = "scene-2026-11-01"          # stable name; default: host and path of the URL, no query
# sha256 = "..."                   # optional expected digest
"""


def _parse(text: str, enabled: set[str] | None = None) -> WatchlistParse:
    return parse_watchlist(textwrap.dedent(text), file="w.toml", enabled_providers=enabled)


def _problems(text: str, enabled: set[str] | None = None) -> list[tuple[str, int | None, str]]:
    return [(p.key, p.line, p.message) for p in _parse(text, enabled).problems]


def test_the_contract_example_yields_one_item_per_entry_in_file_order() -> None:
    result = parse_watchlist(CONTRACT_EXAMPLE, file="w.toml")
    assert result.problems == ()
    assert [item.key for item in result.items] == [
        "pixxel:job:wf-123/job-456",
        "pixxel:task:wf-123/job-456/task-789",
        "pixxel:catalog:47435e2b-d8c4-51ff-9de9-2be3bfc92276",
        "pixxel:order_item:0b7c2d1e-...",
        "scale:job:15096",
        "alteryx:job:66ebd18d3d6200007e000d8c",
        "http:file:bucket.example.org/path/scene.zip",
    ]
    http = result.items[-1]
    assert http.url == (
        "https://bucket.example.org/path/scene.zip?X-Amz-Expires=3600&X-Amz-Signature=..."
    )
    assert http.sha256 is None


def test_an_http_entry_keeps_its_explicit_id_and_lower_cases_its_digest() -> None:
    (item,) = _parse(
        f"""
        [[http.file]]
        url = "https://h.example/x.zip?sig=1"
        id = "scene-2026-11-01"
        sha256 = "{"AB" * 32}"
        """
    ).items
    assert item == ItemRef("http", "file", ("scene-2026-11-01",))
    assert item.sha256 == "ab" * 32


def test_http_entries_need_no_provider_table_in_the_config() -> None:
    result = _parse('[[http.file]]\nurl = "https://h/x"\n', enabled=set())
    assert [i.key for i in result.items] == ["http:file:h/x"]
    assert result.problems == ()


@pytest.mark.parametrize(
    ("text", "key", "line", "message"),
    [
        (
            '[[pixxel.job]]\nworkflow_id = "w"\n',
            "pixxel.job[0].job_id",
            1,
            "missing required field",
        ),
        (
            '[[pixxel.job]]\nworkflow_id = "w"\njob_id = "j"\nproject = "p"\n',
            "pixxel.job[0].project",
            1,
            "unknown field (expected: workflow_id, job_id)",
        ),
        (
            "[[pixxel.catalog]]\nid = 7\n",
            "pixxel.catalog[0].id",
            1,
            "expected a string, got an integer",
        ),
        (
            "[[scale.job]]\nid = -1\n",
            "scale.job[0].id",
            1,
            "must be a non-negative integer (got -1)",
        ),
        (
            "[[scale.job]]\nid = true\n",
            "scale.job[0].id",
            1,
            "expected a string or an integer, got a boolean",
        ),
        ('[[alteryx.job]]\nid = ""\n', "alteryx.job[0].id", 1, "must not be empty"),
        ('[[alteryx.job]]\nid = "a/b"\n', "alteryx.job[0].id", 1, "must not contain '/'"),
        ('[[http.file]]\nid = "x"\n', "http.file[0].url", 1, "missing required field"),
        ('[[http.file]]\nurl = "ftp://h/x"\n', "http.file[0].url", 1, "http:// or https://"),
        (
            '[[http.file]]\nurl = "https://h/x"\nsha256 = "abc"\n',
            "http.file[0].sha256",
            1,
            "64 lower-case hexadecimal",
        ),
        (
            '[[http.file]]\nurl = "https://h/x"\nid = "../etc"\n',
            "http.file[0].id",
            1,
            "'..' path segment",
        ),
        (
            '[[http.file]]\nurl = "https://h/a/../../x"\n',
            "http.file[0]",
            1,
            "give the entry an explicit id",
        ),
        (
            '[[planet.scene]]\nid = "x"\n',
            "planet",
            1,
            "unknown provider 'planet' (expected one of alteryx, http, pixxel, scale)",
        ),
        ('[[pixxel.jobs]]\nid = "x"\n', "pixxel.jobs", 1, "unknown kind 'jobs' for pixxel"),
        (
            '[pixxel.catalog]\nid = "x"\n',
            "pixxel.catalog",
            1,
            "write [[pixxel.catalog]] (an array of tables), not [pixxel.catalog]",
        ),
        ("pixxel = 3\n", "pixxel", 1, "expected [[pixxel.KIND]] entries, got an integer"),
        ("[pixxel]\njob = 3\n", "pixxel.job", 2, "expected [[pixxel.job]] entries, got an integer"),
        ("[pixxel]\ncatalog = [1]\n", "pixxel.catalog[0]", 2, "expected a table, got an integer"),
    ],
)
def test_each_bad_entry_is_one_problem_with_its_key_and_header_line(
    text: str, key: str, line: int, message: str
) -> None:
    result = _parse(text)
    assert result.items == ()
    (problem,) = result.problems
    assert (problem.file, problem.key, problem.line) == ("w.toml", key, line)
    assert message in problem.message


def test_a_bad_entry_is_skipped_and_the_others_still_parse() -> None:
    result = _parse(
        """\
        [[pixxel.job]]
        workflow_id = "w"
        job_id = "1"

        [[pixxel.job]]
        workflow_id = "w"

        [[scale.job]]
        id = 2

        [[pixxel.job]]
        workflow_id = "w"
        job_id = "3"
        colour = "red"

        [[pixxel.job]]
        workflow_id = "w"
        job_id = "4"
        """
    )
    assert [i.key for i in result.items] == ["pixxel:job:w/1", "scale:job:2", "pixxel:job:w/4"]
    assert [(p.key, p.line) for p in result.problems] == [
        ("pixxel.job[1].job_id", 5),
        ("pixxel.job[2].colour", 11),
    ]


def test_entries_of_providers_not_enabled_are_problems_each() -> None:
    problems = _problems(
        """\
        [[scale.job]]
        id = 1
        [[pixxel.catalog]]
        id = "c"
        [[scale.job]]
        id = 2
        """,
        enabled={"pixxel"},
    )
    message = "provider scale is not enabled (no [providers.scale] in config)"
    assert problems == [("scale.job[0]", 1, message), ("scale.job[1]", 5, message)]


def test_a_duplicate_is_reported_once_and_kept_once() -> None:
    result = _parse(
        """\
        [[http.file]]
        url = "https://h.example/a.zip?sig=1"
        [[pixxel.catalog]]
        id = "c"
        [[http.file]]
        url = "https://h.example/a.zip?sig=2"
        [[http.file]]
        url = "https://h.example/a.zip?sig=3"
        """
    )
    assert [i.key for i in result.items] == ["http:file:h.example/a.zip", "pixxel:catalog:c"]
    assert result.items[0].url == "https://h.example/a.zip?sig=1"
    assert _problems_of(result) == [
        (
            "http.file[1]",
            5,
            "http:file:h.example/a.zip is listed 3 times; only the entry at line 1 is used",
        )
    ]


def _problems_of(result: WatchlistParse) -> list[tuple[str, int | None, str]]:
    return [(p.key, p.line, p.message) for p in result.problems]


def test_a_syntax_error_makes_the_whole_file_one_problem() -> None:
    result = _parse('[[pixxel.catalog]]\nid = "a"\n[[pixxel.catalog]\nid = "b"\n')
    assert result.items == ()
    (problem,) = result.problems
    assert (problem.key, problem.line) == ("", 3)
    assert problem.message.startswith("TOML syntax error:")


def test_an_empty_watchlist_has_no_items_and_no_problems() -> None:
    assert _parse("# nothing yet\n") == WatchlistParse((), ())


def test_load_watchlist_reports_a_missing_file_as_one_problem(tmp_path: Path) -> None:
    result = load_watchlist(tmp_path / "absent.toml")
    assert result.items == ()
    assert result.problems == (
        ConfigProblem(
            str(tmp_path / "absent.toml"), "", "cannot read watchlist: No such file or directory"
        ),
    )


def test_load_watchlist_reads_the_file_and_names_it_in_problems(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text('[[scale.job]]\nid = 1\n[[alteryx.job]]\nid = "x"\n')
    result = load_watchlist(path, enabled_providers={"alteryx"})
    assert [i.key for i in result.items] == ["alteryx:job:x"]
    assert [(p.file, p.key, p.line) for p in result.problems] == [(str(path), "scale.job[0]", 1)]


def test_load_watchlist_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_bytes(b"\xff")
    assert [p.message for p in load_watchlist(path).problems] == ["watchlist is not UTF-8 text"]


_FRAGMENTS = [
    "[[pixxel.job]]",
    "[[pixxel.task]]",
    "[[scale.job]]",
    "[[http.file]]",
    "[[pixxel.jobs]]",
    "[pixxel.catalog]",
    "[[planet.x]]",
    'workflow_id = "w"',
    'job_id = "j"',
    'task_id = "t t"',
    "id = 15",
    'id = "a/b"',
    'url = "https://h/x?s=1"',
    'url = "gopher://h"',
    'sha256 = "00"',
    "other = 1",
    "[pixxel]",
    "job = []",
    "= x",
    "",
]


@settings(max_examples=150)
@given(
    st.one_of(st.text(max_size=200), st.lists(st.sampled_from(_FRAGMENTS)).map("\n".join)),
    st.one_of(st.none(), st.sets(st.sampled_from(["pixxel", "scale", "alteryx"]))),
)
def test_any_text_gives_items_and_problems_and_nothing_else(
    text: str, enabled: set[str] | None
) -> None:
    result = parse_watchlist(text, file="w.toml", enabled_providers=enabled)
    assert all(isinstance(item, ItemRef) for item in result.items)
    assert len({item.key for item in result.items}) == len(result.items)
    for problem in result.problems:
        assert isinstance(problem, ConfigProblem)
        assert problem.file == "w.toml"
        assert problem.line is None or 1 <= problem.line <= text.count("\n") + 1
    if enabled is not None:
        assert all(i.provider in enabled or i.provider == "http" for i in result.items)


def test_a_syntax_error_after_a_bare_carriage_return_names_an_existing_line() -> None:
    result = parse_watchlist("'\r0", file="w.toml")
    (problem,) = result.problems
    assert problem.line == 1
    assert "TOML syntax error" in problem.message
