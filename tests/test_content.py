from __future__ import annotations

import hashlib

import pytest

from downloader.emulator._content import BLOCK, SeededContent


def test_same_seed_gives_same_bytes_and_other_seed_differs() -> None:
    a = SeededContent(1, 3 * BLOCK + 17)
    b = SeededContent(1, 3 * BLOCK + 17)
    c = SeededContent(2, 3 * BLOCK + 17)
    assert a.read(0, a.size) == b.read(0, b.size)
    assert a.read(0, 4096) != c.read(0, 4096)


def test_any_range_equals_the_slice_of_the_whole() -> None:
    content = SeededContent(7, 2 * BLOCK + 1000)
    whole = content.read(0, content.size)
    for start, end in [
        (0, 1),
        (BLOCK - 3, BLOCK + 5),
        (5, 2 * BLOCK + 1000),
        (2 * BLOCK, 2 * BLOCK),
    ]:
        assert b"".join(content.iter_range(start, end, chunk=4096)) == whole[start:end]


def test_blocks_differ_so_misplaced_writes_are_detectable() -> None:
    content = SeededContent(3, 4 * BLOCK)
    blocks = {content.read(k * BLOCK, BLOCK) for k in range(4)}
    assert len(blocks) == 4


def test_digest_matches_hashlib_over_the_bytes() -> None:
    content = SeededContent(11, BLOCK + 12345)
    data = content.read(0, content.size)
    assert content.hexdigest() == hashlib.sha256(data).hexdigest()
    assert content.digest("md5") == hashlib.md5(data).digest()


def test_range_outside_the_file_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        list(SeededContent(1, 10).iter_range(5, 11))


def test_seeded_content_satisfies_the_content_protocol() -> None:
    from downloader.emulator._content import Content

    content: Content = SeededContent(5, 100)
    assert content.size == 100
