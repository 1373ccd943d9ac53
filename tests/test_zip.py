from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator

import pytest

from downloader.emulator import ZipContent, ZipMember
from downloader.emulator._content import BLOCK, Content, SeededContent

GIB = 1 << 30


def members() -> list[ZipMember]:
    return [
        ZipMember("scene.tif", SeededContent(1, 2 * BLOCK + 333)),
        ZipMember("empty.txt", SeededContent(2, 0)),
        ZipMember("dir/métadonnées.json", SeededContent(3, 4321)),
    ]


def whole(content: Content) -> bytes:
    return b"".join(content.iter_range(0, content.size))


@pytest.mark.parametrize("force_zip64", [False, True])
def test_archive_opens_with_zipfile_and_members_equal_their_content(force_zip64: bool) -> None:
    archive = ZipContent(members(), force_zip64=force_zip64)
    data = whole(archive)
    assert len(data) == archive.size
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [m.name for m in members()]
        for member in members():
            info = zf.getinfo(member.name)
            assert info.compress_type == zipfile.ZIP_STORED
            assert zf.read(member.name) == whole(member.content)


def test_any_byte_range_equals_the_slice_of_the_whole() -> None:
    archive = ZipContent(members())
    data = whole(archive)
    first_data = 30 + len("scene.tif")
    cases = [
        (0, 1),
        (0, first_data + 10),
        (first_data - 3, first_data + BLOCK + 7),
        (archive.size - 50, archive.size),
        (5, archive.size),
        (100, 100),
    ]
    for start, end in cases:
        assert b"".join(archive.iter_range(start, end, chunk=1000)) == data[start:end]


def test_pieces_never_exceed_the_chunk_size() -> None:
    archive = ZipContent(members())
    assert max(len(p) for p in archive.iter_range(0, archive.size, chunk=777)) <= 777


def test_a_range_outside_the_archive_is_refused() -> None:
    archive = ZipContent(members())
    with pytest.raises(ValueError, match="outside"):
        list(archive.iter_range(0, archive.size + 1))


def test_digest_is_that_of_the_bytes_served() -> None:
    archive = ZipContent(members())
    assert archive.digest() == hashlib.sha256(whole(archive)).digest()
    assert archive.digest("md5") == hashlib.md5(whole(archive)).digest()


def test_crc32_is_computed_once_and_matches_zlib() -> None:
    reads: list[int] = []

    class Counting(SeededContent):
        def iter_range(self, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
            reads.append(start)
            return super().iter_range(start, end, chunk)

    expected = zlib.crc32(SeededContent(9, 5000).read(0, 5000))
    content = Counting(9, 5000)
    archive = ZipContent([ZipMember("a", content)])
    assert archive.crc32(0) == expected
    archive.prepare()
    list(archive.iter_range(0, 31))  # the local header alone, which carries the CRC
    assert archive.crc32(0) == expected
    assert len(reads) == 1


def test_an_empty_archive_is_a_valid_zip() -> None:
    archive = ZipContent([])
    with zipfile.ZipFile(io.BytesIO(whole(archive))) as zf:
        assert zf.namelist() == []


def test_65535_entries_or_more_switch_to_zip64_end_records() -> None:
    one_byte = SeededContent(5, 1)
    count = 65_535
    archive = ZipContent([ZipMember(f"m{i:05}", one_byte) for i in range(count)])
    data = whole(archive)
    assert data[-22:-18] == b"PK\x05\x06"
    assert data[-42:-38] == b"PK\x06\x07"  # the ZIP64 locator precedes the end record
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        assert len(infos) == count
        assert zf.read("m65534") == one_byte.read(0, 1)


class Zeros:
    """A large all-zero content; only its size matters for layout tests."""

    def __init__(self, size: int) -> None:
        self.size = size

    def iter_range(self, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        pos = start
        while pos < end:
            n = min(chunk, end - pos)
            yield bytes(n)
            pos += n

    def digest(self, algorithm: str = "sha256") -> bytes:
        raise AssertionError("not needed")


class RangeFile(io.RawIOBase):
    """A seekable file over a `Content`, reading only what is asked for."""

    def __init__(self, content: Content) -> None:
        self.content = content
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.content.size}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        end = min(self.content.size, self.pos + len(buffer))
        data = b"".join(self.content.iter_range(self.pos, end))
        buffer[: len(data)] = data
        self.pos = end
        return len(data)


def test_members_beyond_4_gib_are_described_with_zip64_fields() -> None:
    # CRCs are given, so no byte of the 5 GiB member is ever generated.
    big, after = Zeros(5 * GIB), SeededContent(4, 10)
    archive = ZipContent(
        [
            ZipMember("big.bin", big, crc32=0x12345678),
            ZipMember("after.txt", after, crc32=zlib.crc32(after.read(0, 10))),
        ]
    )
    with zipfile.ZipFile(io.BufferedReader(RangeFile(archive))) as zf:
        big_info, after_info = zf.infolist()
        assert big_info.file_size == 5 * GIB
        assert big_info.CRC == 0x12345678
        assert after_info.header_offset > 5 * GIB
        assert zf.read("after.txt") == after.read(0, 10)
        with zf.open("big.bin") as member:
            assert member.read(1000) == bytes(1000)
