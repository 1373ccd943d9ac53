from __future__ import annotations

import hashlib
import os
from pathlib import Path

import anyio
import bagit
import pytest

from downloader.archive import BagBuilder, item_path, staging_path
from downloader.clock import FakeClock
from downloader.errors import ArchiveError
from downloader.items import ItemRef

JOB = ItemRef("pixxel", "job", ("wf-1", "job-2"))
ODD_NAMES = [
    "plain.tif",
    "with space.txt",
    "ünïcødé/日本語 ファイル.txt",
    "100% cover.tif",
    "a%b%",
    "semi;colon,comma=equals&amp.txt",
    "#hash first.txt",
    "quotes 'single' \"double\".txt",
    "brackets [1] (2) {3}.txt",
    "tab\tinside.txt",
    "nested/deeper/still deeper/leaf.bin",
    "e\u0301 decomposed.txt",
]


def put(builder: BagBuilder, relative: str, data: bytes, *, md5: bool = False) -> None:
    """Write a payload file as the engine would and declare it with its digests."""
    path = builder.data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    builder.add_payload(
        relative,
        len(data),
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest() if md5 else None,
    )


def new_builder(root: Path, ref: ItemRef = JOB) -> BagBuilder:
    return BagBuilder.in_archive(root, ref, clock=FakeClock())


def bag_info(bag: Path) -> dict[str, str]:
    return dict(bagit.Bag(str(bag)).info)


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


async def test_bag_with_odd_file_names_validates_with_the_bagit_package(tmp_path: Path) -> None:
    builder = new_builder(tmp_path)
    for index, name in enumerate(ODD_NAMES):
        put(builder, name, f"content {index}\n".encode() * (index + 1))

    final = await builder.finish(tmp_path / item_path(JOB))

    bag = bagit.Bag(str(final))
    bag.validate()
    assert sorted(bag.payload_files()) == sorted(f"data/{name}" for name in ODD_NAMES)
    assert bag.version_info == (1, 0)


async def test_bag_info_records_identifier_date_oxum_agent_and_extra_fields(
    tmp_path: Path,
) -> None:
    builder = BagBuilder.in_archive(tmp_path, JOB, clock=FakeClock())
    put(builder, "a.bin", b"x" * 10)
    put(builder, "b.bin", b"y" * 5)

    final = await builder.finish(
        tmp_path / item_path(JOB),
        info={
            "Source-Organization": "Pixxel",
            "External-Description": "Hyperspectral scene\nover two lines",
        },
    )

    info = bag_info(final)
    assert info["External-Identifier"] == "pixxel:job:wf-1/job-2"
    assert info["Bagging-Date"] == "2026-01-01"
    assert info["Payload-Oxum"] == "15.2"
    assert info["Bag-Software-Agent"].startswith("downloader ")
    assert info["Source-Organization"] == "Pixxel"
    assert "over two lines" in info["External-Description"]
    assert (final / "bagit.txt").read_text() == (
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    )
    bagit.Bag(str(final)).validate()


async def test_md5_manifest_is_written_only_when_every_file_has_an_md5(tmp_path: Path) -> None:
    first = JOB
    second = ItemRef("scale", "job", ("15096",))
    with_md5 = new_builder(tmp_path, first)
    put(with_md5, "a", b"aaa", md5=True)
    put(with_md5, "b", b"bbb", md5=True)
    partly = new_builder(tmp_path, second)
    put(partly, "a", b"aaa", md5=True)
    put(partly, "b", b"bbb")

    bag_a = await with_md5.finish(tmp_path / item_path(first))
    bag_b = await partly.finish(tmp_path / item_path(second))

    assert (bag_a / "manifest-md5.txt").read_text() == (
        f"{hashlib.md5(b'aaa').hexdigest()} data/a\n{hashlib.md5(b'bbb').hexdigest()} data/b\n"
    )
    assert not (bag_b / "manifest-md5.txt").exists()
    for bag in (bag_a, bag_b):
        bagit.Bag(str(bag)).validate()


async def test_tag_manifest_covers_every_tag_file(tmp_path: Path) -> None:
    builder = new_builder(tmp_path)
    put(builder, "a", b"aaa", md5=True)

    final = await builder.finish(tmp_path / item_path(JOB))

    listed = {
        line.split(" ", 1)[1]
        for line in (final / "tagmanifest-sha256.txt").read_text().split("\n")
        if line
    }
    assert listed == {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-md5.txt"}


async def test_a_platforms_tag_file_is_in_the_tag_manifest_and_the_bag_validates(
    tmp_path: Path,
) -> None:
    builder = new_builder(tmp_path)
    put(builder, "a", b"aaa")
    messages = b'[{"status": 2, "text": "truncated", "toolId": 4}]\n'

    final = await builder.finish(
        tmp_path / item_path(JOB), tags=[("alteryx-messages.json", messages)]
    )

    assert (final / "alteryx-messages.json").read_bytes() == messages
    manifest = (final / "tagmanifest-sha256.txt").read_text()
    assert f"{hashlib.sha256(messages).hexdigest()} alteryx-messages.json" in manifest
    bagit.Bag(str(final)).validate()
    # a later bag of the item replaces this one, tag file and all
    again = new_builder(tmp_path)
    put(again, "a", b"aaa")
    await again.finish(tmp_path / item_path(JOB))
    assert not (final / "alteryx-messages.json").exists()


async def test_a_tag_file_of_no_platform_name_is_refused(tmp_path: Path) -> None:
    builder = new_builder(tmp_path)
    with pytest.raises(ValueError, match="no name for a platform's tag file"):
        await builder.finish(tmp_path / item_path(JOB), tags=[("../escape.json", b"{}")])


async def test_manifest_encodes_line_breaks_and_percent_escapes(tmp_path: Path) -> None:
    builder = new_builder(tmp_path)
    put(builder, "line\nbreak\rname", b"1")
    put(builder, "looks%41encoded", b"2")
    put(builder, "100% plain", b"3")

    final = await builder.finish(tmp_path / item_path(JOB))

    manifest = (final / "manifest-sha256.txt").read_text()
    assert "data/line%0Abreak%0Dname\n" in manifest
    assert "data/looks%2541encoded\n" in manifest
    assert "data/100% plain\n" in manifest


async def test_finish_takes_digests_from_the_caller_without_reading_the_payload(
    tmp_path: Path,
) -> None:
    builder = new_builder(tmp_path)
    (builder.data_dir / "scene.tif").write_bytes(b"the real bytes")
    declared = hashlib.sha256(b"what the transfer hashed").hexdigest()
    builder.add_payload("scene.tif", len(b"the real bytes"), declared)

    final = await builder.finish(tmp_path / item_path(JOB))

    assert (final / "manifest-sha256.txt").read_text() == f"{declared} data/scene.tif\n"


async def test_nothing_appears_at_the_final_path_before_finish(tmp_path: Path) -> None:
    builder = new_builder(tmp_path)
    put(builder, "scene.tif", b"bytes")

    assert builder.staging_dir == tmp_path / staging_path(JOB)
    assert not (tmp_path / item_path(JOB)).exists()
    assert files_under(tmp_path) == {f"{staging_path(JOB)}/data/scene.tif"}

    await builder.finish(tmp_path / item_path(JOB))

    assert not builder.staging_dir.exists()
    assert files_under(tmp_path / item_path(JOB)) >= {"data/scene.tif", "bagit.txt"}


async def test_a_crashed_run_leaves_its_staging_bag_out_of_the_archive_and_a_rerun_finishes_it(
    tmp_path: Path,
) -> None:
    crashed = new_builder(tmp_path)
    put(crashed, "one.bin", b"1" * 100)
    # The crash struck after some tag files were written: stale and wrong.
    (crashed.staging_dir / "bagit.txt").write_text("garbage")
    (crashed.staging_dir / "manifest-sha256.txt").write_text("0 data/nothing\n")
    del crashed

    assert not (tmp_path / "pixxel").exists()
    assert all(path.startswith(".partial/") for path in files_under(tmp_path))

    rerun = new_builder(tmp_path)
    rerun.add_payload("one.bin", 100, hashlib.sha256(b"1" * 100).hexdigest())
    put(rerun, "two.bin", b"2" * 50)
    final = await rerun.finish(tmp_path / item_path(JOB))

    bagit.Bag(str(final)).validate()
    assert bag_info(final)["Payload-Oxum"] == "150.2"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("undeclared", "undeclared: extra.bin"),
        ("missing", "missing: gone.bin"),
        ("size", "size of short.bin: declared 10, found 3"),
        ("symlink", "link or special file"),
    ],
)
async def test_finish_refuses_a_payload_that_differs_from_its_declaration(
    tmp_path: Path, setup: str, message: str
) -> None:
    builder = new_builder(tmp_path)
    put(builder, "ok.bin", b"fine")
    if setup == "undeclared":
        (builder.data_dir / "extra.bin").write_bytes(b"?")
    elif setup == "missing":
        builder.add_payload("gone.bin", 1, "0" * 64)
    elif setup == "size":
        (builder.data_dir / "short.bin").write_bytes(b"abc")
        builder.add_payload("short.bin", 10, "0" * 64)
    else:
        os.symlink("/etc/passwd", builder.data_dir / "link")

    with pytest.raises(ArchiveError, match=message):
        await builder.finish(tmp_path / item_path(JOB))

    assert not (tmp_path / item_path(JOB)).exists()
    assert (builder.data_dir / "ok.bin").read_bytes() == b"fine"


async def test_archiving_an_item_again_moves_its_old_bag_aside(tmp_path: Path) -> None:
    first = new_builder(tmp_path)
    put(first, "v.txt", b"version 1")
    await first.finish(tmp_path / item_path(JOB))
    second = new_builder(tmp_path)
    put(second, "v.txt", b"version 2")

    final = await second.finish(tmp_path / item_path(JOB))

    assert (final / "data" / "v.txt").read_bytes() == b"version 2"
    replaced = list((tmp_path / ".partial" / "replaced").iterdir())
    assert len(replaced) == 1
    assert replaced[0].name.endswith("-20260101T000000Z")
    assert (replaced[0] / "data" / "v.txt").read_bytes() == b"version 1"
    bagit.Bag(str(replaced[0])).validate()
    bagit.Bag(str(final)).validate()


async def test_a_third_archive_on_the_same_second_gets_its_own_replaced_folder(
    tmp_path: Path,
) -> None:
    for version in range(3):
        builder = new_builder(tmp_path)
        put(builder, "v.txt", f"version {version}".encode())
        await builder.finish(tmp_path / item_path(JOB))

    replaced = sorted(p.name[33:] for p in (tmp_path / ".partial" / "replaced").iterdir())
    assert replaced == ["20260101T000000Z", "20260101T000000Z-1"]


async def test_finish_refuses_to_replace_the_bag_of_another_item(tmp_path: Path) -> None:
    colon = ItemRef("alteryx", "job", ("a:b",))
    underscore = ItemRef("alteryx", "job", ("a_b",))
    assert item_path(colon) == item_path(underscore)
    first = new_builder(tmp_path, colon)
    put(first, "x", b"first")
    await first.finish(tmp_path / item_path(colon))
    second = new_builder(tmp_path, underscore)
    put(second, "x", b"second")

    with pytest.raises(ArchiveError, match="holds the bag of alteryx:job:a:b"):
        await second.finish(tmp_path / item_path(underscore))

    assert (tmp_path / item_path(colon) / "data" / "x").read_bytes() == b"first"
    assert (second.data_dir / "x").read_bytes() == b"second"


async def test_finish_refuses_to_nest_one_bag_inside_another(tmp_path: Path) -> None:
    outer = ItemRef("http", "file", ("host.example/a",))
    inner = ItemRef("http", "file", ("host.example/a/b",))
    builder = new_builder(tmp_path, outer)
    put(builder, "x", b"outer")
    await builder.finish(tmp_path / item_path(outer))
    nested = new_builder(tmp_path, inner)
    put(nested, "y", b"inner")

    with pytest.raises(ArchiveError, match="inside the bag"):
        await nested.finish(tmp_path / item_path(inner))
    assert not (tmp_path / item_path(inner)).exists()


async def test_finish_refuses_a_final_path_that_is_a_plain_directory(tmp_path: Path) -> None:
    outer = ItemRef("http", "file", ("host.example/a",))
    (tmp_path / item_path(outer) / "b").mkdir(parents=True)
    builder = new_builder(tmp_path, outer)
    put(builder, "x", b"outer")

    with pytest.raises(ArchiveError, match="is not a bag"):
        await builder.finish(tmp_path / item_path(outer))
    assert (tmp_path / item_path(outer) / "b").is_dir()
    assert builder.staging_dir.is_dir()


async def test_discard_removes_the_staging_folder(tmp_path: Path) -> None:
    builder = new_builder(tmp_path)
    put(builder, "x", b"x")

    await builder.discard()

    assert not builder.staging_dir.exists()


@pytest.mark.parametrize("path", ["", "../x", "/abs", "a//b", "./a", "a/../b", "a/", "nul\x00"])
def test_add_payload_refuses_paths_that_are_not_plain_relative_ones(
    tmp_path: Path, path: str
) -> None:
    builder = new_builder(tmp_path)
    with pytest.raises(ValueError, match="payload path"):
        builder.add_payload(path, 1, "0" * 64)


def test_add_payload_refuses_a_path_declared_twice(tmp_path: Path) -> None:
    builder = new_builder(tmp_path)
    builder.add_payload("a", 1, "0" * 64)
    with pytest.raises(ArchiveError, match="declared twice"):
        builder.add_payload("a", 1, "0" * 64)


@pytest.mark.parametrize("label", ["Payload-Oxum", "bagging-date", "External-Identifier"])
async def test_finish_refuses_info_fields_the_builder_writes_itself(
    tmp_path: Path, label: str
) -> None:
    builder = new_builder(tmp_path)
    with pytest.raises(ValueError, match="written by the builder"):
        await builder.finish(tmp_path / item_path(JOB), info={label: "x"})


async def test_an_empty_bag_validates(tmp_path: Path) -> None:
    builder = new_builder(tmp_path)

    final = await builder.finish(tmp_path / item_path(JOB))

    bagit.Bag(str(final)).validate()
    assert bag_info(final)["Payload-Oxum"] == "0.0"


async def test_cancelling_finish_leaves_a_whole_bag_and_a_builder_that_knows_it(
    tmp_path: Path,
) -> None:
    builder = new_builder(tmp_path)
    for index in range(20):
        put(builder, f"file-{index}.bin", bytes([index]) * 10_000)
    final_dir = tmp_path / item_path(JOB)

    async with anyio.create_task_group() as group:
        group.start_soon(builder.finish, final_dir)
        await anyio.sleep(0)
        group.cancel_scope.cancel()

    bagit.Bag(str(final_dir)).validate()
    assert not builder.staging_dir.exists()
    with pytest.raises(ArchiveError, match="already finished"):
        builder.add_payload("late.bin", 1, "0" * 64)


async def test_a_builder_that_made_no_folder_yet_leaves_it_to_the_first_write_and_finish(
    tmp_path: Path,
) -> None:
    lazy = BagBuilder.in_archive(tmp_path, JOB, clock=FakeClock(), create=False)
    assert not lazy.staging_dir.exists()  # nothing blocking was done on construction
    put(lazy, "scene.tif", b"written by the first fetch")
    bag = await lazy.finish(tmp_path / item_path(JOB))
    bagit.Bag(str(bag)).validate()
    assert files_under(bag / "data") == {"scene.tif"}
    empty_ref = ItemRef("pixxel", "job", ("wf-1", "job-3"))
    empty = BagBuilder.in_archive(tmp_path, empty_ref, clock=FakeClock(), create=False)
    bag = await empty.finish(tmp_path / item_path(empty_ref))  # a package of no file
    bagit.Bag(str(bag)).validate()
    assert (bag / "data").is_dir()
    assert files_under(bag / "data") == set()
