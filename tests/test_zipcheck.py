from __future__ import annotations

import hashlib
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import pytest

from downloader.archive import ExtractedFile, check_zip, extract_zip
from downloader.errors import ArchiveError, CorruptMember, DamagedMember

MiB = 1024 * 1024


def extract(path: Path, dest: Path) -> list[ExtractedFile]:
    """`extract_zip` with caps no well-formed test archive comes near."""
    return extract_zip(path, dest, max_total=64 * MiB, max_ratio=100.0, max_members=100)


def make_zip(
    path: Path,
    members: Sequence[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def patch_central_entry(path: Path, name: str, offset: int, fmt: str, value: int) -> None:
    """Overwrite a field of `name`'s central directory entry (a lying header)."""
    blob = bytearray(path.read_bytes())
    start = 0
    while True:
        start = blob.index(b"PK\x01\x02", start)
        (name_length,) = struct.unpack_from("<H", blob, start + 28)
        if blob[start + 46 : start + 46 + name_length] == name.encode():
            struct.pack_into(fmt, blob, start + offset, value)
            path.write_bytes(bytes(blob))
            return
        start += 4


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


SAMPLE = [
    ("readme.txt", b"hello\n"),
    ("bands/B01.tif", os.urandom(300_000)),
    ("bands/B02 with space.tif", b"\x00" * 200_000),
    ("métadonnées/日本.xml", "<xml>ü</xml>".encode()),
    ("empty.bin", b""),
]


# --- check_zip ------------------------------------------------------------------------------


def test_check_zip_reports_every_member_of_a_good_archive(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "good.zip", [*SAMPLE, ("dir/", b"")])

    report = check_zip(path)

    by_name = {member.name: member for member in report.members}
    assert set(by_name) == {name for name, _ in SAMPLE} | {"dir/"}
    for name, data in SAMPLE:
        assert by_name[name].size == len(data)
        assert by_name[name].crc == zlib.crc32(data)
        assert by_name[name].kind == "file"
    assert by_name["dir/"].kind == "dir"
    assert report.total_size == sum(len(data) for _, data in SAMPLE)


def test_check_zip_handles_stored_members(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "stored.zip", SAMPLE, compression=zipfile.ZIP_STORED)

    report = check_zip(path)

    assert report.total_size == sum(len(data) for _, data in SAMPLE)


def test_a_flipped_byte_is_a_crc_error_naming_the_member(tmp_path: Path) -> None:
    payload = b"the quick brown fox jumps over the lazy dog " * 100
    path = make_zip(
        tmp_path / "flip.zip",
        [("first.txt", b"intact"), ("second.txt", payload)],
        compression=zipfile.ZIP_STORED,
    )
    blob = bytearray(path.read_bytes())
    where = blob.index(payload) + 500
    blob[where] ^= 0x01
    path.write_bytes(bytes(blob))
    flipped = bytearray(payload)
    flipped[500] ^= 0x01

    with pytest.raises(CorruptMember, match=r"second\.txt") as caught:
        check_zip(path)

    assert caught.value.member == "second.txt"
    assert caught.value.expected == zlib.crc32(payload)
    assert caught.value.actual == zlib.crc32(bytes(flipped))
    assert f"{zlib.crc32(payload):08x}" in str(caught.value)


def test_a_crc_error_names_the_members_span_from_local_header_to_end_of_data(
    tmp_path: Path,
) -> None:
    payload = b"0123456789abcdef" * 64
    path = make_zip(
        tmp_path / "span.zip",
        [("first.txt", b"intact"), ("second.txt", payload), ("third.txt", b"after")],
        compression=zipfile.ZIP_STORED,
    )
    blob = bytearray(path.read_bytes())
    data_at = blob.index(payload)
    blob[data_at + 100] ^= 0x01
    path.write_bytes(bytes(blob))
    header_at = blob.rindex(b"PK\x03\x04", 0, data_at)

    with pytest.raises(CorruptMember) as caught:
        check_zip(path)

    assert caught.value.span == (header_at, data_at + len(payload))
    assert blob[data_at + len(payload) : data_at + len(payload) + 4] == b"PK\x03\x04"


def test_a_corrupt_deflate_stream_is_an_archive_error(tmp_path: Path) -> None:
    payload = os.urandom(50_000)
    path = make_zip(tmp_path / "bad.zip", [("noise.bin", payload)])
    blob = bytearray(path.read_bytes())
    for offset in range(200, 400):
        blob[offset] ^= 0xFF
    path.write_bytes(bytes(blob))

    with pytest.raises(ArchiveError, match=r"noise\.bin"):
        check_zip(path)


def test_a_broken_deflate_stream_is_a_damaged_member_with_its_span(tmp_path: Path) -> None:
    payload = os.urandom(50_000)
    path = make_zip(tmp_path / "bad.zip", [("first.txt", b"intact" * 100), ("noise.bin", payload)])
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("noise.bin")
    data_at = info.header_offset + 30 + len("noise.bin")
    blob = bytearray(path.read_bytes())
    for offset in range(data_at + 200, data_at + 400):
        blob[offset] ^= 0xFF
    path.write_bytes(bytes(blob))

    with pytest.raises(DamagedMember) as caught:
        check_zip(path)

    assert caught.value.member == "noise.bin"
    assert caught.value.span == (info.header_offset, data_at + info.compress_size)


@pytest.mark.parametrize(
    "content",
    [b"this is not a zip file at all", b"", b"PK\x03\x04 truncated header"],
)
def test_a_file_that_is_no_zip_is_an_archive_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.zip"
    path.write_bytes(content)

    with pytest.raises(ArchiveError, match="not a readable ZIP"):
        check_zip(path)


def test_a_truncated_archive_is_an_archive_error(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "cut.zip", SAMPLE)
    path.write_bytes(path.read_bytes()[:-40])

    with pytest.raises(ArchiveError):
        check_zip(path)


def test_unsupported_compression_methods_are_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bz.zip", [("a.txt", b"abc" * 100)], zipfile.ZIP_BZIP2)

    with pytest.raises(ArchiveError, match="compression method 12"):
        check_zip(path)


def test_encrypted_members_are_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "enc.zip", [("secret.txt", b"abc")])
    patch_central_entry(path, "secret.txt", 8, "<H", 0x1)

    with pytest.raises(ArchiveError, match="encrypted"):
        check_zip(path)


def test_check_zip_can_stop_a_bomb_with_the_same_caps(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", [("zeros", b"\x00" * (8 * MiB))])

    with pytest.raises(ArchiveError, match="expands more than 100 times"):
        check_zip(path, max_ratio=100)


# --- extract_zip ----------------------------------------------------------------------------


def test_extract_zip_writes_every_file_with_its_size_and_sha256(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "good.zip", [*SAMPLE, ("dir/", b""), ("dir/sub/", b"")])
    dest = tmp_path / "out"

    extracted = extract(path, dest)

    expected = {
        name: ExtractedFile(name, len(data), hashlib.sha256(data).hexdigest())
        for name, data in SAMPLE
    }
    assert {entry.path: entry for entry in extracted} == expected
    assert tree(dest) == dict(SAMPLE)
    assert (dest / "dir" / "sub").is_dir()


def test_extract_zip_into_an_existing_folder_keeps_what_was_there(tmp_path: Path) -> None:
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "package.zip").write_bytes(b"already here")
    path = make_zip(tmp_path / "good.zip", [("unpacked/a.txt", b"a")])

    extract(path, dest)

    assert tree(dest) == {"package.zip": b"already here", "unpacked/a.txt": b"a"}


def test_backslash_separated_names_become_folders(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "win.zip", [("folder\\file.txt", b"w")])

    extracted = extract(path, tmp_path / "out")

    assert [entry.path for entry in extracted] == ["folder/file.txt"]
    assert (tmp_path / "out" / "folder" / "file.txt").read_bytes() == b"w"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../x", "climbs out"),
        ("a/../../x", "climbs out"),
        ("..\\x", "climbs out"),
        ("/etc/x", "absolute path"),
        ("\\\\server\\share\\x", "absolute path"),
        ("C:\\Windows\\x", "absolute path"),
        ("c:drive-relative.txt", "absolute path"),
    ],
)
def test_hostile_member_names_are_refused_before_anything_is_written(
    tmp_path: Path, name: str, message: str
) -> None:
    path = make_zip(tmp_path / "evil.zip", [("fine.txt", b"ok"), (name, b"evil")])
    dest = tmp_path / "out"

    with pytest.raises(ArchiveError, match=message):
        extract(path, dest)

    assert not dest.exists()
    assert not (tmp_path / "x").exists()


def test_symlink_members_are_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "link.zip", [("ok.txt", b"ok"), (symlink_info("link"), b"/etc")])

    with pytest.raises(ArchiveError, match="'link' is a symlink"):
        extract(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_device_members_are_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("fifo")
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    path = make_zip(tmp_path / "fifo.zip", [(info, b"")])

    with pytest.raises(ArchiveError, match="is a special"):
        extract(path, tmp_path / "out")


def test_a_link_already_in_the_destination_is_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    os.symlink(elsewhere, dest / "sub")
    path = make_zip(tmp_path / "a.zip", [("sub/x.txt", b"x")])

    with pytest.raises(ArchiveError, match="not a folder"):
        extract(path, dest)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    "names",
    [["ab:c.txt", "ab_c.txt"], ["same.txt", "same.txt"], ["a", "a/b"], ["a/b", "a"], ["a", "a/"]],
)
def test_members_landing_on_one_path_are_refused(tmp_path: Path, names: list[str]) -> None:
    members: list[tuple[str | zipfile.ZipInfo, bytes]] = [
        (name, b"" if name.endswith("/") else b"x") for name in names
    ]
    duplicate = names[0] == names[1]
    with pytest.warns(UserWarning, match="Duplicate name") if duplicate else nullcontext():
        path = make_zip(tmp_path / "dup.zip", members)

    with pytest.raises(ArchiveError, match="collides"):
        extract(path, tmp_path / "out")


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a.txt").write_bytes(b"mine")
    path = make_zip(tmp_path / "a.zip", [("new.txt", b"new"), ("a.txt", b"theirs")])

    with pytest.raises(ArchiveError, match="cannot create"):
        extract(path, dest)

    assert tree(dest) == {"a.txt": b"mine"}


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "many.zip", [(f"f{i}", b"x") for i in range(11)])

    with pytest.raises(ArchiveError, match="11 members, more than the 10 allowed"):
        extract_zip(path, tmp_path / "out", max_total=MiB, max_ratio=100, max_members=10)


def test_a_bomb_by_declared_total_size_is_refused_before_writing(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", [(f"z{i}", b"\x00" * MiB) for i in range(3)])

    with pytest.raises(ArchiveError, match="declares 3145728 uncompressed bytes"):
        extract_zip(path, tmp_path / "out", max_total=2 * MiB, max_ratio=2000, max_members=10)
    assert not (tmp_path / "out").exists()


def test_a_bomb_whose_headers_understate_its_size_is_stopped_while_streaming(
    tmp_path: Path,
) -> None:
    members = [("small.txt", b"fine"), *((f"z{i}", b"\x00" * (2 * MiB)) for i in range(3))]
    path = make_zip(tmp_path / "liar.zip", members)
    for i in range(3):
        patch_central_entry(path, f"z{i}", 24, "<L", 10)  # uncompressed size: "10 bytes"
    dest = tmp_path / "out"

    with pytest.raises(ArchiveError, match="'z0' produces more than the 10 bytes its header"):
        extract_zip(path, dest, max_total=3 * MiB, max_ratio=2000, max_members=10)

    assert not dest.exists()


def test_a_member_shorter_than_its_header_says_is_an_error(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "liar.zip", [("a.txt", b"a" * 1000)])
    patch_central_entry(path, "a.txt", 24, "<L", 5000)

    with pytest.raises(ArchiveError, match="holds 1000 bytes, its header declares 5000"):
        extract(path, tmp_path / "out")


def test_a_bomb_by_compression_ratio_is_refused_and_cleaned_up(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "ratio.zip", [("ok.txt", b"fine"), ("zeros", b"\x00" * (8 * MiB))])
    dest = tmp_path / "out"

    with pytest.raises(ArchiveError, match="'zeros' expands more than 100 times"):
        extract_zip(path, dest, max_total=64 * MiB, max_ratio=100, max_members=10)

    assert not dest.exists()


def test_small_members_are_never_refused_for_their_ratio(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "blank.zip", [("blank.txt", b" " * 100_000)])

    extracted = extract_zip(path, tmp_path / "out", max_total=MiB, max_ratio=2, max_members=10)

    assert extracted[0].size == 100_000


def test_a_crc_error_during_extraction_removes_the_partial_output(tmp_path: Path) -> None:
    payload = b"payload bytes " * 1000
    path = make_zip(
        tmp_path / "flip.zip",
        [("good.txt", b"good"), ("bad/inner.txt", payload)],
        compression=zipfile.ZIP_STORED,
    )
    blob = bytearray(path.read_bytes())
    blob[blob.index(payload) + 10] ^= 0x20
    path.write_bytes(bytes(blob))
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "keep.me").write_bytes(b"k")

    with pytest.raises(CorruptMember, match=r"bad/inner\.txt"):
        extract(path, dest)

    assert tree(dest) == {"keep.me": b"k"}
    assert not (dest / "bad").exists()
