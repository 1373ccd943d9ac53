"""The pure judgement of what a file host's answer says: excerpts, promises, sizes, codings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.emulator._pages import error_page, expired_page, signature_page
from downloader.emulator._refusals import error_body, expiry_refusal
from downloader.transfer._answers import (
    EXCERPT_CHARS,
    MAX_PLAUSIBLE_SIZE,
    beyond_status,
    error_excerpt,
    implausible_size,
    judge_body,
    promised_type,
    promises_start,
    unasked_encoding,
)


@pytest.mark.parametrize(
    ("style", "said"),
    [
        ("s3", "AccessDenied: Request has expired"),
        ("gcs", "ExpiredToken: The provided token has expired."),
        ("azure", "AuthenticationFailed: Server failed to authenticate the request."),
    ],
)
def test_each_hosts_expiry_refusal_reads_as_its_code_and_message(style: str, said: str) -> None:
    _, (body, kind) = expiry_refusal(style, {"expires": "1"}, 2.0)
    assert error_excerpt(kind, body).startswith(said)


def test_error_pages_read_as_their_code_title_or_message() -> None:
    for page, said in [
        (error_page(404), "404 Not Found"),
        (signature_page(), "SignatureDoesNotMatch: The request signature we calculated"),
        (expired_page({}, 0), "AccessDenied: Request has expired"),
    ]:
        body, declared = page
        assert error_excerpt(declared, body).startswith(said)
    for kind in ("html", "xml", "json"):
        body, declared = error_body(kind)
        assert "Access" in error_excerpt(declared, body)
    gcs_json = json.dumps({"error": {"code": 401, "message": "Invalid Credentials"}}).encode()
    assert error_excerpt("application/json", gcs_json) == "401: Invalid Credentials"
    assert error_excerpt("application/json", b'{"detail": "Not found."}') == "Not found."
    assert error_excerpt("text/plain", b"  Forbidden\r\n ") == "Forbidden"
    quoted = b"Expired: https://bucket.example/a.tif?X-Amz-Signature=abc&e=1 (see docs)"
    assert (
        error_excerpt("text/plain", quoted) == "Expired: https://bucket.example/a.tif?… (see docs)"
    )
    assert error_excerpt(None, b"") == ""


def test_an_excerpt_that_only_repeats_the_status_says_nothing() -> None:
    assert beyond_status("404: Not Found", 404) == ""
    assert beyond_status("404 Not Found", 404) == ""
    assert beyond_status("", 500) == ""
    assert beyond_status("Forbidden", 403) == ""
    assert beyond_status("AccessDenied: Request has expired", 403) != ""
    assert beyond_status("Access Denied", 200) == "Access Denied"
    assert beyond_status("599 Custom", 599) == "599 Custom"


def test_a_binary_body_gives_no_excerpt() -> None:
    assert error_excerpt(None, bytes(range(256)) * 4) == ""


@given(st.binary(max_size=3000), st.sampled_from([None, "text/html", "application/json", "x"]))
def test_an_excerpt_never_raises_and_stays_short_and_printable(
    body: bytes, kind: str | None
) -> None:
    text = error_excerpt(kind, body)
    assert len(text) <= EXCERPT_CHARS
    assert text.isprintable()


def test_the_promise_is_the_platforms_type_else_the_names() -> None:
    assert promised_type("application/zip", "x.tif") == "application/zip"
    assert promised_type("Application/ZIP; charset=x", None) == "application/zip"
    assert promised_type("application/octet-stream", "a.zip") == "application/zip"
    assert promised_type(None, "scene.tif") == "image/tiff"
    assert promised_type(None, "noextension") is None
    assert promised_type(None, None) is None
    assert promises_start("application/zip")
    assert not promises_start("image/tiff")


@pytest.mark.parametrize(
    ("declared", "promised", "head", "ok"),
    [
        ("text/html; charset=utf-8", "application/zip", None, False),
        ("application/xml", "image/tiff", None, False),
        ("application/problem+json", "text/csv", None, False),
        ("application/xhtml+xml", "application/zip", None, False),
        ("application/zip", "application/zip", b"PK\x03\x04rest", True),
        ("application/zip", "application/zip", b"PK\x05\x06", True),  # an empty ZIP
        ("application/zip", "application/zip", b"PK\x07\x08PK\x03\x04", True),  # once split
        ("application/octet-stream", "application/zip", b"<html>", False),
        ("application/octet-stream", "application/zip", None, True),  # not seen yet
        ("application/octet-stream", "image/tiff", b"{json}", True),  # not sniffed
        ("text/xml", "text/xml", None, True),  # a KML is XML: asked for as a page
        ("application/json", "application/json", None, True),
        ("text/html", None, None, True),  # nothing promised, nothing refused
    ],
)
def test_a_2xx_body_is_judged_by_its_declared_type_and_the_promised_format(
    declared: str, promised: str | None, head: bytes | None, ok: bool
) -> None:
    verdict = judge_body(declared, promised, head)
    assert verdict.ok is ok
    assert bool(verdict.reason) is not ok


def test_sizes_beyond_a_pebibyte_are_no_file() -> None:
    assert not implausible_size(None)
    assert not implausible_size(MAX_PLAUSIBLE_SIZE)
    assert implausible_size(MAX_PLAUSIBLE_SIZE + 1)
    assert implausible_size(1 << 63)


def test_a_coding_other_than_identity_is_one_nobody_asked_for() -> None:
    assert unasked_encoding(None) is None
    assert unasked_encoding("identity") is None
    assert unasked_encoding("") is None
    assert unasked_encoding("GZIP") == "gzip"
    assert unasked_encoding("gzip, br") == "gzip, br"
