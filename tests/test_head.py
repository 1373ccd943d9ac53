"""The response head of the body receiver, parsed from bytes without a socket."""

from __future__ import annotations

import pytest

from downloader.transfer._head import MAX_HEAD, HeadError, find_head_end, parse_head


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_a_206_with_its_length_fields_and_repeats() -> None:
    parsed = parse_head(
        head(
            "HTTP/1.1 206 Partial Content",
            "Content-Length: 10",
            "content-range: bytes 0-9/100",
            "Digest: md5=a",
            "Digest: sha-256=b",
        )
    )
    assert (parsed.status, parsed.reason, parsed.length) == (206, "Partial Content", 10)
    assert parsed.get("Content-Range") == "bytes 0-9/100"
    assert [v for k, v in parsed.items() if k == "Digest"] == ["md5=a", "sha-256=b"]
    assert parsed.keep_alive
    assert not parsed.chunked


@pytest.mark.parametrize(
    ("lines", "length", "chunked", "keep_alive"),
    [
        (["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"], None, True, True),
        (["HTTP/1.1 200 OK"], None, False, False),  # to the end of the connection
        (["HTTP/1.1 200 OK", "Content-Length: 5", "Connection: close"], 5, False, False),
        (["HTTP/1.0 200 OK", "Content-Length: 5"], 5, False, False),
        (["HTTP/1.0 200 OK", "Content-Length: 5", "Connection: keep-alive"], 5, False, True),
        (["HTTP/1.1 204 No Content", "Content-Length: 5"], 0, False, True),
        (["HTTP/1.1 200 OK", "Transfer-Encoding: gzip"], None, False, False),
        (["HTTP/1.1 200 OK", "Content-Length: 7", "Content-Length: 7"], 7, False, True),
    ],
)
def test_how_the_body_is_framed(
    lines: list[str], length: int | None, chunked: bool, keep_alive: bool
) -> None:
    parsed = parse_head(head(*lines))
    assert (parsed.length, parsed.chunked, parsed.keep_alive) == (length, chunked, keep_alive)


@pytest.mark.parametrize(
    "raw",
    [
        head("HTTP/2 200 OK"),
        head("HTTP/1.1 2000 OK"),
        head("<html>"),
        head("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 6"),
        head("HTTP/1.1 200 OK", "Content-Length: -5"),
        head("HTTP/1.1 200 OK", "no colon here"),
        head("HTTP/1.1 200 OK", "X-A: 1", " folded"),
        head("HTTP/1.1 200 OK", "Bad Name : 1"),
    ],
)
def test_an_unreadable_head_is_refused(raw: bytes) -> None:
    with pytest.raises(HeadError):
        parse_head(raw)


def test_the_end_of_the_head_is_found_or_waited_for_within_a_limit() -> None:
    raw = head("HTTP/1.1 200 OK", "Content-Length: 3") + b"abc"
    assert find_head_end(raw) == len(raw) - 3
    assert find_head_end(raw[:20]) is None
    with pytest.raises(HeadError, match="no end"):
        find_head_end(b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD)
