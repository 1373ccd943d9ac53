from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.transfer._checkpoint import Checkpoint, WorkFiles, current_boot_id, work_files_for
from downloader.transfer._plan import Segment


def sample() -> Checkpoint:
    return Checkpoint(
        validator='"v1"',
        total=1000,
        name="scene.tif",
        ranges_supported=True,
        segments=[Segment(0, 500, pos=120), Segment(500, 1000, pos=1000)],
        offered=[("sha256", "ab" * 32, "Repr-Digest")],
        durable=[100, 800],
        boot_id=current_boot_id(),
    )


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    start = draw(st.integers(min_value=0, max_value=2**62))
    end = draw(st.one_of(st.none(), st.integers(min_value=start, max_value=2**63 - 1)))
    pos = draw(st.integers(min_value=start, max_value=2**63 - 1 if end is None else end))
    return Segment(start, end, pos)


checkpoints = st.builds(
    Checkpoint,
    validator=st.one_of(st.none(), st.text()),
    total=st.one_of(st.none(), st.integers(min_value=0, max_value=2**63 - 1)),
    name=st.text(min_size=1),
    ranges_supported=st.booleans(),
    segments=st.lists(segments(), min_size=1, max_size=8),
    offered=st.lists(st.tuples(st.text(), st.text(), st.text()), max_size=4),
)


# --- JSON ---------------------------------------------------------------------------------------


def test_a_checkpoint_survives_json() -> None:
    assert Checkpoint.from_json(sample().to_json()) == sample()


@given(checkpoints)
def test_every_checkpoint_survives_json(checkpoint: Checkpoint) -> None:
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint


def test_cursors_are_kept_exactly_even_at_a_segment_start() -> None:
    checkpoint = sample()
    checkpoint.segments = [Segment(0, 10, pos=0), Segment(10, None, pos=10)]
    checkpoint.durable = [0, 10]
    restored = Checkpoint.from_json(checkpoint.to_json())
    assert restored is not None
    assert [(s.start, s.end, s.pos) for s in restored.segments] == [(0, 10, 0), (10, None, 10)]


def test_a_checkpoint_without_offered_digests_is_read() -> None:
    raw = json.loads(sample().to_json())
    del raw["offered"]
    restored = Checkpoint.from_json(json.dumps(raw))
    assert restored is not None
    assert restored.offered == []


def edited(**changes: object) -> str:
    raw = json.loads(sample().to_json())
    raw.update(changes)
    return json.dumps(raw)


def without(key: str) -> str:
    raw = json.loads(sample().to_json())
    del raw[key]
    return json.dumps(raw)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("{", id="truncated"),
        pytest.param(sample().to_json()[:-5], id="cut-short"),
        pytest.param("not json at all", id="garbage"),
        pytest.param("\x00\x00\x00", id="zeroed-by-a-crash"),
        pytest.param("null", id="null"),
        pytest.param("[]", id="list"),
        pytest.param('"checkpoint"', id="string"),
        pytest.param("42", id="number"),
        pytest.param("{}", id="empty-object"),
        pytest.param(edited(format=2), id="newer-format"),
        pytest.param(edited(format="1"), id="format-as-text"),
        pytest.param(without("format"), id="no-format"),
        pytest.param(without("segments"), id="no-segments"),
        pytest.param(without("validator"), id="no-validator"),
        pytest.param(without("total"), id="no-total"),
        pytest.param(without("name"), id="no-name"),
        pytest.param(without("ranges_supported"), id="no-ranges-flag"),
        pytest.param(edited(segments=[[0, 10]]), id="segment-too-short"),
        pytest.param(edited(segments=[[0, 10, 5, 7]]), id="segment-too-long"),
        pytest.param(edited(segments=[["a", 10, 5]]), id="segment-not-a-number"),
        pytest.param(edited(segments=[[0, {}, 5]]), id="segment-end-an-object"),
        pytest.param(edited(segments=5), id="segments-not-a-list"),
        pytest.param(edited(offered=[["sha256", "ab"]]), id="offered-too-short"),
        pytest.param(edited(offered=7), id="offered-not-a-list"),
    ],
)
def test_an_unreadable_checkpoint_reads_as_none(text: str) -> None:
    assert Checkpoint.from_json(text) is None


@given(st.text())
def test_from_json_never_raises_on_text(text: str) -> None:
    result = Checkpoint.from_json(text)
    assert result is None or isinstance(result, Checkpoint)


# --- WorkFiles ----------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> WorkFiles:
    directory = tmp_path / "work"
    directory.mkdir()
    return WorkFiles(directory, "0123abcd")


def test_work_files_sit_side_by_side_in_the_shared_folder(files: WorkFiles) -> None:
    assert files.data.parent == files.directory
    assert files.checkpoint.parent == files.directory
    assert files.data != files.checkpoint
    other = WorkFiles(files.directory, "4567ef01")
    assert {other.data, other.checkpoint}.isdisjoint({files.data, files.checkpoint})


def test_a_saved_checkpoint_loads_back(files: WorkFiles) -> None:
    files.data.write_bytes(b"x" * 120)
    files.save(sample())
    assert files.load() == sample()


def test_load_is_none_before_anything_was_saved(files: WorkFiles) -> None:
    assert files.load() is None


def test_load_is_none_when_the_data_file_is_missing(files: WorkFiles) -> None:
    files.save(sample())
    assert files.checkpoint.exists()
    assert files.load() is None


def test_load_is_none_when_the_checkpoint_is_corrupt(files: WorkFiles) -> None:
    files.data.write_bytes(b"x")
    files.checkpoint.write_text('{"format": 1, "segm')
    assert files.load() is None


def test_load_is_none_when_the_folder_is_gone(tmp_path: Path) -> None:
    assert WorkFiles(tmp_path / "never-created", "0123abcd").load() is None


def test_open_directory_creates_the_shared_folder(tmp_path: Path) -> None:
    files = WorkFiles(tmp_path / "a" / "transfers", "0123abcd")
    assert files.open_directory() is None
    assert files.directory.is_dir()
    assert list(files.directory.iterdir()) == []


def test_save_leaves_only_the_checkpoint_behind(files: WorkFiles) -> None:
    files.data.write_bytes(b"")
    files.save(sample())
    assert sorted(p.name for p in files.directory.iterdir()) == ["0123abcd.json", "0123abcd.part"]
    assert not list(files.directory.glob("*.tmp"))


def test_save_replaces_the_previous_checkpoint(files: WorkFiles) -> None:
    files.data.write_bytes(b"")
    files.save(sample())
    later = sample()
    later.segments = [Segment(0, 500, pos=500), Segment(500, 1000, pos=1000)]
    files.save(later)
    assert files.load() == later


def test_save_overwrites_a_temporary_file_left_by_a_crash(files: WorkFiles) -> None:
    files.data.write_bytes(b"")
    files.checkpoint.with_suffix(".tmp").write_text("half a checkpo")
    files.save(sample())
    assert files.load() == sample()
    assert not list(files.directory.glob("*.tmp"))


def test_a_failed_save_leaves_the_previous_checkpoint_intact(files: WorkFiles) -> None:
    files.data.write_bytes(b"")
    files.save(sample())
    # A folder where the temporary file should go makes the write fail before the rename.
    files.checkpoint.with_suffix(".tmp").mkdir()
    later = sample()
    later.total = 2000
    with pytest.raises(OSError):  # noqa: PT011 - which OSError depends on the platform
        files.save(later)
    assert files.load() == sample()


def test_reset_deletes_checkpoint_and_data_and_nothing_else(files: WorkFiles) -> None:
    files.data.write_bytes(b"x")
    files.save(sample())
    neighbour = WorkFiles(files.directory, "4567ef01")
    neighbour.data.write_bytes(b"y")
    neighbour.save(sample())
    files.reset()
    assert not files.data.exists()
    assert not files.checkpoint.exists()
    assert files.load() is None
    assert sorted(p.name for p in files.directory.iterdir()) == ["4567ef01.json", "4567ef01.part"]
    assert neighbour.load() == sample()


def test_reset_of_nothing_is_harmless(files: WorkFiles) -> None:
    files.reset()
    files.reset()
    assert list(files.directory.iterdir()) == []


def test_a_fresh_start_looks_at_no_data_file_and_removes_nothing(files: WorkFiles) -> None:
    files.data.write_bytes(b"left by a crash")  # replaced when a fresh start makes its own
    assert files.prepare() is None
    assert not files.saved
    assert files.data.read_bytes() == b"left by a crash"


def test_prepare_removes_a_checkpoint_it_cannot_trust_and_its_data(files: WorkFiles) -> None:
    files.data.write_bytes(b"x")
    files.checkpoint.write_text('{"format": 1, "segm')
    assert files.prepare() is None
    assert list(files.directory.iterdir()) == []


def test_prepare_trusts_a_saved_checkpoint_and_keeps_its_files(files: WorkFiles) -> None:
    files.data.write_bytes(b"x" * 120)
    files.save(sample())
    assert files.prepare() == sample()
    assert files.saved
    assert sorted(p.name for p in files.directory.iterdir()) == ["0123abcd.json", "0123abcd.part"]


def test_a_fresh_data_file_replaces_what_a_crash_left_there(files: WorkFiles) -> None:
    files.data.write_bytes(b"stale bytes")
    fd = files.open_data(fresh=True)
    try:
        assert os.fstat(fd).st_size == 0
        os.write(fd, b"new")
    finally:
        os.close(fd)
    assert files.data.read_bytes() == b"new"


def test_a_fresh_data_file_replaces_a_link_there_without_following_it(
    files: WorkFiles, tmp_path: Path
) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"not yours")
    os.symlink(victim, files.data)
    os.close(files.open_data(fresh=True))
    assert not files.data.is_symlink()
    assert victim.read_bytes() == b"not yours"


def test_forget_removes_only_a_checkpoint_that_may_be_there(files: WorkFiles) -> None:
    assert files.prepare() is None
    WorkFiles(files.directory, "0123abcd").write("{}")  # not this transfer's doing
    files.forget()  # it saved none: it removes none
    assert files.checkpoint.exists()
    files.save(sample())
    files.forget()
    assert not files.checkpoint.exists()


# --- work_files_for -----------------------------------------------------------------------------


def test_work_files_are_stable_for_a_key(tmp_path: Path) -> None:
    first = work_files_for(tmp_path, "pixxel:job:42/scene.tif")
    again = work_files_for(tmp_path, "pixxel:job:42/scene.tif")
    assert (again.data, again.checkpoint) == (first.data, first.checkpoint)
    assert first.directory == tmp_path / "transfers"
    stem = first.data.name.removesuffix(".part")
    assert len(stem) == 32
    assert set(stem) <= set("0123456789abcdef")
    assert first.checkpoint.name == f"{stem}.json"


def test_work_files_do_not_leak_the_key_into_the_path(tmp_path: Path) -> None:
    files = work_files_for(tmp_path, "../../etc/passwd")
    assert files.data.parent == tmp_path / "transfers"
    assert files.checkpoint.parent == tmp_path / "transfers"
    assert ".." not in files.data.parts


@given(st.text(), st.text())
def test_different_keys_get_different_work_files(first: str, second: str) -> None:
    root = Path("/archive/.partial")
    same = work_files_for(root, first).data == work_files_for(root, second).data
    assert same == (first == second)


@pytest.mark.parametrize(
    "change",
    [
        {"name": ""},
        {"segments": []},
        {"total": "abc"},
        {"validator": 5},
        {"ranges_supported": "no"},
        {"segments": [[0, 10, 11]]},
        {"offered": [["sha256", 5, "Digest"]]},
    ],
)
def test_a_checkpoint_with_inconsistent_fields_is_unreadable(change: dict[str, object]) -> None:
    raw = json.loads(sample().to_json())
    raw.update(change)
    assert Checkpoint.from_json(json.dumps(raw)) is None


def test_a_deeply_nested_checkpoint_is_unreadable() -> None:
    assert Checkpoint.from_json("[" * 100_000 + "]" * 100_000) is None


def test_written_cursors_are_trusted_within_the_same_boot(files: WorkFiles) -> None:
    files.data.write_bytes(b"x" * 1000)
    files.save(sample())
    loaded = files.load()
    assert loaded is not None
    assert [seg.pos for seg in loaded.segments] == [120, 1000]


def test_after_a_reboot_only_synced_cursors_are_trusted(files: WorkFiles) -> None:
    files.data.write_bytes(b"x" * 1000)
    files.save(dataclasses.replace(sample(), boot_id="another-boot"))
    loaded = files.load()
    assert loaded is not None
    assert [seg.pos for seg in loaded.segments] == [100, 800]


def test_after_a_reboot_without_synced_cursors_segments_start_over(files: WorkFiles) -> None:
    files.data.write_bytes(b"x" * 1000)
    files.save(dataclasses.replace(sample(), boot_id=None, durable=[]))
    loaded = files.load()
    assert loaded is not None
    assert [seg.pos for seg in loaded.segments] == [0, 500]


def test_synced_cursors_beyond_written_ones_are_unreadable() -> None:
    raw = json.loads(sample().to_json())
    raw["durable"] = [130, 800]
    assert Checkpoint.from_json(json.dumps(raw)) is None
