from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import bagit

from downloader.archive import BagBuilder, ProblemKind, item_path, verify_bag
from downloader.clock import FakeClock
from downloader.items import ItemRef

JOB = ItemRef("scale", "job", ("15096",))
FILES = {
    "scene.tif": b"pixels " * 5000,
    "meta/scene.json": b'{"cloud": 0.1}',
    "odd name %41 and 100%.txt": b"percent",
    "line\nbreak.txt": b"newline in a name",
}


async def archived_bag(root: Path, *, md5: bool = False) -> Path:
    builder = BagBuilder.in_archive(root, JOB, clock=FakeClock())
    for name, data in FILES.items():
        path = builder.data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        builder.add_payload(
            name,
            len(data),
            hashlib.sha256(data).hexdigest(),
            hashlib.md5(data).hexdigest() if md5 else None,
        )
    return await builder.finish(root / item_path(JOB))


def kinds(audit_problems: object) -> list[tuple[str, str]]:
    assert isinstance(audit_problems, tuple)
    return [(problem.kind.value, problem.path) for problem in audit_problems]


async def test_an_intact_bag_passes(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path, md5=True)

    audit = verify_bag(bag)

    assert audit.ok, audit.problems
    assert audit.identifier == "scale:job:15096"
    assert audit.files_checked == len(FILES)
    assert audit.bytes_checked == sum(len(data) for data in FILES.values())
    assert audit.report_lines() == [
        f"scale:job:15096: intact ({len(FILES)} files, {audit.bytes_checked} bytes)"
    ]


async def test_a_modified_payload_file_is_reported_with_both_digests(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path, md5=True)
    target = bag / "data" / "scene.tif"
    tampered = bytearray(target.read_bytes())
    tampered[100] ^= 0xFF
    target.write_bytes(bytes(tampered))

    audit = verify_bag(bag)

    assert kinds(audit.problems) == [("modified", "data/scene.tif")] * 2
    details = sorted(problem.detail for problem in audit.problems)
    assert details[0] == (
        f"md5 expected {hashlib.md5(FILES['scene.tif']).hexdigest()}, "
        f"got {hashlib.md5(bytes(tampered)).hexdigest()}"
    )
    original = hashlib.sha256(FILES["scene.tif"]).hexdigest()
    assert details[1].startswith(f"sha256 expected {original}, got ")
    assert not audit.ok


async def test_a_missing_payload_file_is_reported_and_the_oxum_disagrees(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path)
    (bag / "data" / "meta" / "scene.json").unlink()

    audit = verify_bag(bag)

    assert kinds(audit.problems) == [("oxum", "data/"), ("missing", "data/meta/scene.json")]


async def test_an_extra_payload_file_is_reported(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path)
    (bag / "data" / "meta" / "intruder.txt").write_bytes(b"?")

    audit = verify_bag(bag)

    assert kinds(audit.problems) == [
        ("oxum", "data/"),
        ("extra", "data/meta/intruder.txt"),
    ]
    assert audit.problems[1].detail == "not in manifest-sha256.txt"


async def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path)
    (bag / "data" / "scene.tif").write_bytes(b"replaced")
    (bag / "data" / "meta" / "scene.json").unlink()
    (bag / "data" / "new.bin").write_bytes(b"new")

    audit = verify_bag(bag)

    assert sorted(kinds(audit.problems)) == [
        ("extra", "data/new.bin"),
        ("missing", "data/meta/scene.json"),
        ("modified", "data/scene.tif"),
        ("oxum", "data/"),
    ]
    lines = audit.report_lines()
    assert lines[0] == "scale:job:15096: 4 problem(s)"
    assert "  missing: data/meta/scene.json" in lines


async def test_an_edited_tag_file_fails_the_tag_manifest(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path)
    info = bag / "bag-info.txt"
    info.write_text(info.read_text() + "Contact-Name: someone\n")

    audit = verify_bag(bag)

    assert kinds(audit.problems) == [("modified", "bag-info.txt")]


async def test_a_link_in_the_payload_is_reported_and_not_followed(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path)
    os.symlink("/etc/hostname", bag / "data" / "link")

    audit = verify_bag(bag)

    assert kinds(audit.problems) == [("unsafe", "data/link")]


async def test_a_manifest_path_outside_the_bag_is_never_opened(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"do not read")
    with (bag / "manifest-sha256.txt").open("a") as manifest:
        manifest.write(f"{'0' * 64} data/../../../../secret.txt\n")
        manifest.write(f"{'0' * 64} /etc/hostname\n")
        manifest.write("not a manifest line\n")

    audit = verify_bag(bag)

    found = kinds(audit.problems)
    assert found.count(("unsafe", "manifest-sha256.txt")) == 2
    assert ("malformed", "manifest-sha256.txt") in found
    # The manifest changed, so the tag manifest reports it; no payload problem at all.
    assert ("modified", "manifest-sha256.txt") in found
    assert not [p for p in audit.problems if p.path.startswith("data/")]


async def test_a_folder_that_is_no_bag_is_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()

    audit = verify_bag(tmp_path)

    assert kinds(audit.problems) == [("not-a-bag", "bagit.txt")]
    assert audit.problems[0].kind is ProblemKind.NOT_A_BAG


async def test_a_missing_tag_file_is_reported(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path)
    (bag / "bag-info.txt").unlink()

    audit = verify_bag(bag)

    assert kinds(audit.problems) == [("missing", "bag-info.txt")]
    assert audit.identifier is None


def test_a_bag_made_by_the_bagit_package_with_two_algorithms_passes(tmp_path: Path) -> None:
    source = tmp_path / "bag"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"a" * 1000)
    (source / "sub" / "b c.txt").write_bytes(b"b")
    bagit.make_bag(str(source), checksums=["sha256", "sha512"])

    clean = verify_bag(source)
    (source / "data" / "sub" / "b c.txt").write_bytes(b"B")
    tampered = verify_bag(source)

    assert clean.ok, clean.problems
    assert clean.files_checked == 2
    assert [p.detail.split()[0] for p in tampered.problems] == ["sha256", "sha512"]


async def test_a_bag_copied_elsewhere_still_verifies(tmp_path: Path) -> None:
    bag = await archived_bag(tmp_path / "archive")
    copy = tmp_path / "copy"
    shutil.copytree(bag, copy)

    assert verify_bag(copy).ok
