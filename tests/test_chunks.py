"""The chunked coding decoded from pieces of any size, without a socket."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.transfer._chunks import MAX_LINE, ChunkDecoder, ChunkError


def code(body: bytes, sizes: list[int], trailer: bytes = b"") -> bytes:
    out, at = bytearray(), 0
    for size in sizes:
        piece = body[at : at + size]
        if not piece:
            break
        out += b"%x;ext=1\r\n" % len(piece) + piece + b"\r\n"
        at += len(piece)
    if at < len(body):
        out += b"%X\r\n" % (len(body) - at) + body[at:] + b"\r\n"
    return bytes(out + b"0\r\n" + trailer + b"\r\n")


def decode(coded: bytes, cuts: list[int]) -> tuple[bytes, ChunkDecoder]:
    decoder, out, at = ChunkDecoder(), bytearray(), 0
    for cut in [*sorted(cuts), len(coded)]:
        for view in decoder.feed(memoryview(coded)[at:cut]):
            out += view
        at = max(at, cut)
    return bytes(out), decoder


@given(
    st.binary(max_size=3000),
    st.lists(st.integers(1, 700), max_size=8),
    st.lists(st.integers(0, 4000), max_size=10),
)
def test_any_body_in_any_chunks_cut_anywhere_decodes_whole(
    body: bytes, sizes: list[int], cuts: list[int]
) -> None:
    coded = code(body, sizes, trailer=b"X-Sum: 1\r\n")
    cuts = [c for c in cuts if c <= len(coded)]
    decoded, decoder = decode(coded, cuts)
    assert decoded == body
    assert decoder.done
    assert decoder.extra == 0


def test_bytes_after_the_last_chunk_are_counted_not_decoded() -> None:
    decoded, decoder = decode(code(b"abc", [3]) + b"HTTP/1.1 200", [])
    assert (decoded, decoder.done, decoder.extra) == (b"abc", True, 12)


@pytest.mark.parametrize(
    ("coded", "error"),
    [
        (b"zz\r\nabc", "unreadable chunk-size"),
        (b"\r\n", "unreadable chunk-size"),
        (b"3\r\nabcX\r\n", "followed by"),
        (b"3\nabc", "not ended by CRLF"),
        (b"1" * (MAX_LINE + 1), "longer than"),
        (b"11111111111111111\r\n", "unreadable chunk-size"),
    ],
)
def test_a_coding_that_cannot_be_read_is_refused(coded: bytes, error: str) -> None:
    decoder = ChunkDecoder()
    decoder.feed(memoryview(coded))
    assert isinstance(decoder.error, ChunkError)
    assert re.search(error, str(decoder.error))
    assert decoder.feed(memoryview(b"0\r\n\r\n")) == []  # nothing more is decoded
    assert not decoder.done


def test_the_good_bytes_before_a_broken_coding_are_handed_back() -> None:
    decoder = ChunkDecoder()
    views = decoder.feed(memoryview(b"5\r\nhello\r\nzz\r\n"))
    assert b"".join(views) == b"hello"
    assert decoder.error is not None


def test_a_body_cut_short_is_not_done() -> None:
    decoded, decoder = decode(b"5\r\nhel", [])
    assert (decoded, decoder.done) == (b"hel", False)
