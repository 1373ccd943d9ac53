"""Scale answers (v6 serializers and the 3.x job page) to our values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from downloader.errors import MalformedResponse
from downloader.providers._parse_common import RemoteState
from downloader.providers._parse_scale import (
    next_page_url,
    parse_file,
    parse_files_page,
    parse_job,
    parse_job_list_page,
    parse_legacy_job,
)

V6_JOB: dict[str, Any] = {
    "id": 15096,
    "job_type": {"id": 8, "name": "my-job", "version": "1.0.0"},
    "status": "RUNNING",
    "error": None,
    "num_exes": 1,
    "input_file_size": 1.5,
    "output": None,
    "created": "2026-11-01T10:00:00.000Z",
    "last_modified": "2026-11-01T10:05:00.000Z",
}

V6_FILE: dict[str, Any] = {
    "id": 465,
    "workspace": {"id": 2, "name": "products"},
    "file_name": "scene.kml",
    "file_path": "products/15096/scene.kml",
    "file_type": "PRODUCT",
    "media_type": "application/vnd.google-earth.kml+xml",
    "file_size": 1234,
    "data_type_tags": [],
    "is_deleted": False,
    "url": "https://ws.example.org/products/15096/scene.kml",
    "job": {"id": 15096},
    "job_output": "output_file",
    "is_superseded": False,
}


def v6_job(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(V6_JOB)
    body.update(changes)
    return body


def v6_file(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(V6_FILE)
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("PENDING", RemoteState.RUNNING),
        ("BLOCKED", RemoteState.RUNNING),
        ("QUEUED", RemoteState.RUNNING),
        ("RUNNING", RemoteState.RUNNING),
        ("COMPLETED", RemoteState.SUCCEEDED),
        ("completed", RemoteState.SUCCEEDED),
        ("FAILED", RemoteState.FAILED),
        ("CANCELED", RemoteState.FAILED),
    ],
)
def test_v6_job_status_words(word, state):
    job = parse_job(v6_job(status=word))
    assert job.status.state is state
    assert job.status.known
    assert job.id == "15096"


def test_an_unknown_scale_status_is_not_final():
    status = parse_job(v6_job(status="RESTARTING")).status
    assert (status.state, status.known) == (RemoteState.RUNNING, False)


def test_a_failed_job_gives_its_error_title_and_description():
    error = {
        "id": 7,
        "name": "algorithm-failure",
        "title": "Algorithm Failure",
        "description": "The algorithm exited with code 3",
        "category": "ALGORITHM",
    }
    job = parse_job(v6_job(status="FAILED", error=error))
    assert job.failure() == (
        "Scale job 15096 failed: Algorithm Failure: The algorithm exited with code 3"
    )


def test_a_failed_job_without_error_details_says_so():
    assert parse_job(v6_job(status="FAILED")).failure() == (
        "Scale job 15096 failed (no error details given)"
    )


def test_a_canceled_job_says_it_was_canceled():
    assert parse_job(v6_job(status="CANCELED")).failure() == "Scale job 15096 was canceled"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({k: v for k, v in V6_JOB.items() if k != "status"}, "has no 'status'"),
        (v6_job(status=12345), "'status' is int"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_broken_scale_jobs_are_malformed(body, message):
    with pytest.raises(MalformedResponse, match=message):
        parse_job(body)


def test_a_files_page_lists_files_and_the_next_page():
    page = parse_files_page(
        {
            "count": 3,
            "next": "https://scale.example.org/v6/files/?job_id=15096&page=2",
            "previous": None,
            "results": [v6_file(), v6_file(id=466, file_name="b.kml", file_size=0)],
        }
    )
    assert page.next_url == "https://scale.example.org/v6/files/?job_id=15096&page=2"
    first, second = page.files
    assert (first.id, first.name, first.size, first.url) == (
        "465",
        "scene.kml",
        1234,
        "https://ws.example.org/products/15096/scene.kml",
    )
    assert first.output == "output_file"
    assert first.live
    assert (second.id, second.size) == ("466", 0)


def test_the_last_page_has_no_next():
    assert parse_files_page({"count": 0, "next": None, "results": []}).next_url is None


def test_deleted_and_superseded_files_are_not_live():
    page = parse_files_page(
        {"next": None, "results": [v6_file(is_deleted=True), v6_file(is_superseded=True)]}
    )
    assert [f.live for f in page.files] == [False, False]


def test_a_job_list_entry_whose_id_is_too_long_for_int_is_left_out():
    page = {"next": None, "results": [{"id": "9" * 5000, "status": "RUNNING"}]}
    assert parse_job_list_page(page, "Scale job list").statuses == {}


def test_a_file_url_that_cannot_be_parsed_is_malformed():
    with pytest.raises(MalformedResponse, match=r"'url' is not a valid URL"):
        parse_file({"id": 1, "file_name": "a", "url": "http://[::1/a"}, "Scale file")


def test_a_null_url_is_kept_as_none():
    (file,) = parse_files_page({"next": None, "results": [v6_file(url=None)]}).files
    assert file.url is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"count": 1, "next": None}, "Scale file list: the answer has no 'results'"),
        ({"next": None, "results": {"unexpected": "object"}}, "'results' is dict"),
        ({"next": None, "results": [v6_file(file_size="big")]}, "'file_size' is not"),
        ({"next": None, "results": [v6_file(url="s3://bucket/x")]}, "not an http\\(s\\) URL"),
        ({"next": None, "results": [v6_file(file_name=None)]}, "has no 'file_name'"),
        ({"next": None, "results": [v6_file(is_deleted="no")]}, "expected true or false"),
    ],
)
def test_broken_file_lists_are_malformed(body, message):
    with pytest.raises(MalformedResponse, match=message):
        parse_files_page(body)


# ---- the job list ----------------------------------------------------------------------------


def test_a_job_list_page_gives_each_jobs_status_by_id_and_the_next_page():
    page = parse_job_list_page(
        {
            "count": 5,
            "next": "https://scale.example.org/v6/jobs/?job_id=1&job_id=2&page=2",
            "previous": None,
            "results": [
                v6_job(id=1, status="QUEUED"),
                v6_job(id=2, status="COMPLETED"),
                v6_job(id=3, status="CANCELED"),
                v6_job(id=4, status="BLOCKED"),
            ],
        },
        "Scale job list",
    )
    assert page.next_url == "https://scale.example.org/v6/jobs/?job_id=1&job_id=2&page=2"
    assert {k: (s.word, s.state, s.known) for k, s in page.statuses.items()} == {
        "1": ("QUEUED", RemoteState.RUNNING, True),
        "2": ("COMPLETED", RemoteState.SUCCEEDED, True),
        "3": ("CANCELED", RemoteState.FAILED, True),
        "4": ("BLOCKED", RemoteState.RUNNING, True),
    }


def test_the_last_job_list_page_has_no_next_and_an_unknown_word_is_marked():
    page = parse_job_list_page(
        {"count": 1, "next": None, "results": [v6_job(status="RESTARTING")]}, "Scale job list"
    )
    assert page.next_url is None
    assert page.statuses["15096"] == parse_job(v6_job(status="RESTARTING")).status
    assert not page.statuses["15096"].known


def test_job_list_entries_without_a_usable_id_or_status_word_are_left_out():
    results = [
        v6_job(id=None),
        v6_job(id=True),
        v6_job(id=-3),
        v6_job(id="x12"),
        v6_job(id=1.5),
        v6_job(id=5, status=None),
        v6_job(id=6, status=7),
        v6_job(id=7, status=" "),
        {k: v for k, v in V6_JOB.items() if k != "id"},
        "not an object",
        None,
        v6_job(id="0042", status="RUNNING"),
        v6_job(id=8, status="PENDING"),
    ]
    page = parse_job_list_page({"next": None, "results": results}, "Scale job list")
    assert sorted(page.statuses) == ["42", "8"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"count": 1, "next": None}, "Scale job list: the answer has no 'results'"),
        ({"results": None}, "has no 'results'"),
        ({"next": None, "results": {"1": "RUNNING"}}, "'results' is dict"),
        ([v6_job()], "expected a JSON object, got list"),
        ({"next": {"page": 2}, "results": []}, "'next' is dict"),
    ],
)
def test_a_job_list_answer_that_is_not_a_page_is_malformed(body, message):
    with pytest.raises(MalformedResponse, match=message):
        parse_job_list_page(body, "Scale job list")


# ---- legacy (3.x) ----------------------------------------------------------------------------

LEGACY_FILE = {
    "id": 3,
    "workspace": {"id": 1, "name": "products"},
    "file_name": "my_file.kml",
    "media_type": "application/vnd.google-earth.kml+xml",
    "file_size": 100,
    "data_type": [],
    "is_deleted": False,
    "uuid": "c8928d9183fc99122948e7840ec9a0fd",
    "url": "http://host.com/file/path/my_file.kml",
    "is_published": True,
}


def test_a_legacy_job_carries_its_product_files_inline():
    body = {
        "id": 3,
        "status": "COMPLETED",
        "error": None,
        "outputs": [
            {"name": "output_file", "type": "file", "value": LEGACY_FILE},
            {
                "name": "output_files",
                "type": "files",
                "value": [dict(LEGACY_FILE, id=4, file_name="b.kml"), dict(LEGACY_FILE, id=5)],
            },
            {"name": "count", "type": "property", "value": 12},
        ],
    }
    job = parse_legacy_job(body)
    assert job.status.state is RemoteState.SUCCEEDED
    assert [(f.id, f.name, f.output) for f in job.files] == [
        ("3", "my_file.kml", "output_file"),
        ("4", "b.kml", "output_files"),
        ("5", "my_file.kml", "output_files"),
    ]
    assert job.files[0].size == 100
    assert job.files[0].url == "http://host.com/file/path/my_file.kml"


def test_a_legacy_job_may_list_bare_file_objects():
    job = parse_legacy_job({"id": 3, "status": "COMPLETED", "outputs": [LEGACY_FILE]})
    assert [f.name for f in job.files] == ["my_file.kml"]


def test_a_running_legacy_job_has_no_files():
    job = parse_legacy_job({"id": 3, "status": "RUNNING", "outputs": []})
    assert job.status.state is RemoteState.RUNNING
    assert job.files == ()


def test_a_legacy_output_that_is_not_an_object_is_malformed():
    with pytest.raises(MalformedResponse, match="an entry of 'outputs' is not an object"):
        parse_legacy_job({"id": 3, "status": "COMPLETED", "outputs": ["x"]})


# ---- next links -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_url", "base", "expected"),
    [
        (
            "https://scale.example.org/v6/files/?page=2",
            "https://scale.example.org",
            "https://scale.example.org/v6/files/?page=2",
        ),
        (
            "https://SCALE.example.org:443/api/v6/files/?page=2",
            "https://scale.example.org/api",
            "https://SCALE.example.org:443/api/v6/files/?page=2",
        ),
        (
            "http://127.0.0.1:8000/scale/v6/files/?page=3",
            "http://127.0.0.1:8000/scale",
            "http://127.0.0.1:8000/scale/v6/files/?page=3",
        ),
        # TLS ended by a proxy: Scale writes http links, we stay on https
        (
            "http://scale.example.org/v6/files/?job_id=1&page=2",
            "https://scale.example.org",
            "https://scale.example.org/v6/files/?job_id=1&page=2",
        ),
    ],
)
def test_next_links_on_the_same_server_are_followed(next_url, base, expected):
    assert next_page_url(next_url, base) == expected


@pytest.mark.parametrize(
    ("next_url", "base", "expected"),
    [
        (
            "https://elsewhere.example.com/v6/files/?page=2",
            "https://scale.example.org",
            "https://scale.example.org/v6/files/?page=2",
        ),
        (
            "https://scale.example.org:8443/v6/files/?page=2",
            "https://scale.example.org",
            "https://scale.example.org/v6/files/?page=2",
        ),
        (
            "http://scale.example.org/v6/files/?page=2",
            "http://scale.example.org:8000",
            "http://scale.example.org:8000/v6/files/?page=2",
        ),
        (
            "https://scale.example.org/v6/files/?page=2",
            "http://scale.example.org",
            "http://scale.example.org/v6/files/?page=2",
        ),
        # Django's own address behind a proxy that serves it below a path
        (
            "http://10.0.0.7:8000/v6/jobs/?job_id=1&page=2",
            "https://proxy.example.org/scale",
            "https://proxy.example.org/scale/v6/jobs/?job_id=1&page=2",
        ),
        (
            "http://10.0.0.7:8000/scale/v6/jobs/?page=2",
            "https://proxy.example.org/scale/",
            "https://proxy.example.org/scale/v6/jobs/?page=2",
        ),
    ],
)
def test_next_links_to_another_server_are_refused(next_url, base, expected):
    # never followed to that server (the token would go there): its path and query are
    # asked of the configured one instead, as a proxy that hides the host name needs
    assert next_page_url(next_url, base) == expected


def test_a_next_link_that_cannot_be_read_names_the_list_it_came_from():
    with pytest.raises(MalformedResponse, match=r"^Scale job list: 'next' is not a valid URL"):
        next_page_url("http://[::1/v6/jobs/", "https://scale.example.org", "Scale job list")
