"""Status words, fields and error bodies shared by every platform's parser."""

from __future__ import annotations

import json
import re

import pytest

from downloader.errors import MalformedResponse
from downloader.providers._parse_common import (
    MESSAGE_LIMIT,
    RemoteState,
    Vocabulary,
    describe_error_body,
    field_bool,
    field_int,
    field_list,
    field_object,
    field_status,
    field_str,
    http_url,
    load_json,
    object_of,
    scrub,
    shorten,
)

WORDS = Vocabulary.of(succeeded="completed", failed="failed canceled", running="running queued")


@pytest.mark.parametrize(
    ("word", "state", "known"),
    [
        ("completed", RemoteState.SUCCEEDED, True),
        ("COMPLETED", RemoteState.SUCCEEDED, True),
        (" Completed ", RemoteState.SUCCEEDED, True),
        ("Failed", RemoteState.FAILED, True),
        ("CANCELED", RemoteState.FAILED, True),
        ("running", RemoteState.RUNNING, True),
        ("Queued", RemoteState.RUNNING, True),
        ("reticulating-splines", RemoteState.RUNNING, False),
        ("", RemoteState.RUNNING, False),
    ],
)
def test_status_words_are_compared_without_regard_to_case(word, state, known):
    status = WORDS.classify(word)
    assert (status.state, status.known, status.word) == (state, known, word)


def test_load_json_reads_an_object():
    assert load_json(b'{"a": [1, 2]}', "x") == {"a": [1, 2]}


def test_truncated_json_is_reported_as_truncated():
    with pytest.raises(MalformedResponse, match=r"Pixxel job: .*not valid JSON \(truncated\)"):
        load_json(b'{"status": "runn', "Pixxel job")


def test_a_number_too_long_to_convert_is_a_malformed_answer_not_a_value_error():
    with pytest.raises(MalformedResponse, match=r"Scale job: the answer cannot be read \(.*digits"):
        load_json(b'{"file_size": ' + b"9" * 5000 + b"}", "Scale job")


def test_an_error_body_with_a_number_too_long_to_convert_is_described_as_text():
    body = b'{"detail": ' + b"9" * 5000 + b"}"
    assert describe_error_body(body, "application/json").startswith('{"detail": 999')


def test_json_with_garbage_names_the_byte_where_it_goes_wrong():
    with pytest.raises(MalformedResponse, match=r"at byte 1"):
        load_json(b"{]", "x")


def test_a_body_that_is_not_utf8_is_malformed():
    with pytest.raises(MalformedResponse, match="not UTF-8"):
        load_json(b'{"a": "\xff"}', "x")


def test_object_of_refuses_a_list():
    with pytest.raises(MalformedResponse, match="expected a JSON object, got list"):
        object_of([1], "Scale job")


def test_field_str_accepts_numbers_as_text_and_refuses_lists():
    assert field_str({"id": 15096}, "id", "x") == "15096"
    assert field_str({"id": None}, "id", "x", required=False) is None
    with pytest.raises(MalformedResponse, match=r"'id' is list, expected a string"):
        field_str({"id": []}, "id", "x")
    with pytest.raises(MalformedResponse, match=r"x: the answer has no 'id'"):
        field_str({}, "id", "x")


def test_a_status_must_be_a_real_string():
    assert field_status({"status": "ok"}, "status", "x") == "ok"
    with pytest.raises(MalformedResponse, match=r"'status' is int, expected a string"):
        field_status({"status": 12345}, "status", "x")
    with pytest.raises(MalformedResponse, match=r"has no 'status'"):
        field_status({"status": None}, "status", "x")


@pytest.mark.parametrize(("value", "expected"), [(7, 7), (7.0, 7), ("7", 7), (" 12 ", 12)])
def test_field_int_accepts_integral_spellings(value, expected):
    assert field_int({"n": value}, "n", "x") == expected


@pytest.mark.parametrize("value", [-1, 1.5, "1e3", True, [], "x", "\u00b2", "9" * 5000])
def test_field_int_refuses_everything_else(value):
    # a superscript digit and a 5,000-digit string pass str.isdigit() but not int()
    with pytest.raises(MalformedResponse, match="not a non-negative integer"):
        field_int({"n": value}, "n", "x")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1/scene.zip", "is not a valid URL"),
        ("https://host:99999/scene.zip", "is not a valid URL"),
        ("https://host:port/scene.zip", "is not a valid URL"),
        ("https:///scene.zip", "is not an http(s) URL"),
        ("ftp://host/scene.zip", "is not an http(s) URL"),
    ],
)
def test_a_url_that_cannot_be_parsed_is_a_malformed_answer(url, problem):
    with pytest.raises(MalformedResponse, match=f"^package: 'signed_url' {re.escape(problem)}"):
        http_url(url, "package", "signed_url")
    assert http_url(" https://h.example:8443/a?b=c ", "p", "u") == "https://h.example:8443/a?b=c"


def test_field_bool_list_and_object():
    assert field_bool({}, "b", "x") is False
    assert field_bool({"b": True}, "b", "x") is True
    with pytest.raises(MalformedResponse, match="expected true or false"):
        field_bool({"b": "yes"}, "b", "x")
    assert field_list({}, "l", "x", required=False) == []
    with pytest.raises(MalformedResponse, match="expected a list"):
        field_list({"l": {"unexpected": "object"}}, "l", "x")
    assert field_object({"o": {"a": 1}}, "o", "x") == {"a": 1}
    with pytest.raises(MalformedResponse, match="expected a JSON object"):
        field_object({"o": "unexpected string"}, "o", "x")


# ---- error bodies ---------------------------------------------------------------------------


def js(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            js({"error": {"code": "FORBIDDEN", "message": "missing API key", "details": None}}),
            "application/json",
            "FORBIDDEN: missing API key",
        ),
        (
            js({"error": {"code": "BAD_REQUEST", "message": "one list", "details": {"k": [1]}}}),
            "application/json",
            'BAD_REQUEST: one list ({"k":[1]})',
        ),
        (
            js({"error": "invalid_client", "error_description": "client authentication failed"}),
            "application/json",
            "invalid_client: client authentication failed",
        ),
        (js({"detail": "Invalid token."}), "application/json", "Invalid token."),
        (js({"detail": ["a", "b"]}), "application/json", '["a","b"]'),
        (js({"message": "Job not found."}), "application/json; charset=utf-8", "Job not found."),
        (js({"Message": "An error has occurred."}), None, "An error has occurred."),
        (js({"unexpected": 1}), "application/json", '{"unexpected":1}'),
        (b"Not found", "text/plain", "Not found"),
        (b"line one\nline two\n", "text/plain", "line one line two"),
        (b"", "text/plain", ""),
        (b'{"detail": "trunc', "application/json", '{"detail": "trunc'),
    ],
)
def test_error_bodies_become_one_short_line(body, content_type, expected):
    assert describe_error_body(body, content_type) == expected


def test_html_error_pages_lose_their_tags_scripts_and_entities():
    page = (
        b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title>"
        b"<style>body { color: red }</style><script>alert(1)</script></head>\n"
        b"<body><h1>Bad Gateway</h1><p>The upstream &amp; the proxy disagree.</p></body></html>"
    )
    text = describe_error_body(page, "text/html; charset=utf-8")
    assert text == "502 Bad Gateway: Bad Gateway The upstream & the proxy disagree."
    assert "<" not in text
    assert "color" not in text
    assert "alert" not in text


def test_html_is_recognised_without_a_content_type():
    assert describe_error_body(b"<html><body><p>Oops</p></body></html>", None) == "Oops"


def test_a_huge_error_body_is_cut_to_the_message_limit():
    text = describe_error_body(b"x" * 100_000, "text/plain")
    assert len(text) == MESSAGE_LIMIT
    assert text.endswith("…")


def test_shorten_keeps_short_text_and_flattens_whitespace():
    assert shorten("  a\n\tb  ") == "a b"
    assert shorten("abcdef", 4) == "abc…"


def test_scrub_removes_url_queries_and_secrets():
    text = "failed at https://files.example/pkg.zip?sig=abc123&expires=9 with key px-secret"
    cleaned = scrub(text, ["px-secret", ""])
    assert "abc123" not in cleaned
    assert "px-secret" not in cleaned
    assert "https://files.example/pkg.zip?…" in cleaned
    assert cleaned.endswith("with key ***")
