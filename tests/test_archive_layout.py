from __future__ import annotations

import ast
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from downloader.archive import _layout, _tagfiles
from downloader.archive._layout import item_path, item_segments, replaced_path, staging_path
from downloader.items import ID_FIELDS, ItemRef, check_id
from downloader.transfer._names import sanitize_filename


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("pixxel:job:wf-123/job-456", "pixxel/jobs/wf-123/job-456"),
        ("pixxel:task:wf-123/job-456/task-789", "pixxel/tasks/wf-123/job-456/task-789"),
        (
            "pixxel:catalog:47435e2b-d8c4-51ff-9de9-2be3bfc92276",
            "pixxel/catalogs/47435e2b-d8c4-51ff-9de9-2be3bfc92276",
        ),
        ("pixxel:order_item:0b7c2d1e", "pixxel/order-items/0b7c2d1e"),
        ("scale:job:15096", "scale/jobs/15096"),
        ("alteryx:job:66ebd18d3d6200007e000d8c", "alteryx/jobs/66ebd18d3d6200007e000d8c"),
        (
            "http:file:bucket.example.org/path/scene.zip",
            "http/bucket.example.org/path/scene.zip",
        ),
        ("http:file:scene-2026-11-01", "http/scene-2026-11-01"),
    ],
)
def test_item_path_follows_the_contract_layout(key: str, expected: str) -> None:
    assert item_path(ItemRef.parse(key)) == PurePosixPath(expected)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("scale:job:..\\..\\etc", "scale/jobs/_.._etc"),
        ("alteryx:job:a:b", "alteryx/jobs/a_b"),
        ("alteryx:job:CON", "alteryx/jobs/_CON"),
        ("alteryx:job:...", "alteryx/jobs/_"),
        ("pixxel:job:.hidden/job", "pixxel/jobs/hidden/job"),
        ("http:file:host:8443/a\\..\\b/c?d", "http/host_8443/a_.._b/c_d"),
        ("http:file:host/.../x", "http/host/_/x"),
    ],
)
def test_hostile_ids_become_single_harmless_segments(key: str, expected: str) -> None:
    assert item_path(ItemRef.parse(key)) == PurePosixPath(expected)


def test_staging_and_replaced_paths_live_under_partial_and_are_stable() -> None:
    ref = ItemRef.parse("pixxel:job:wf/job")
    same = ItemRef.parse("pixxel:job:wf/job")
    other = ItemRef.parse("pixxel:job:wf/job2")

    assert staging_path(ref) == staging_path(same)
    assert staging_path(ref) != staging_path(other)
    assert staging_path(ref).parts[:2] == (".partial", "bags")
    assert len(staging_path(ref).name) == 32
    assert replaced_path(ref, "20261123T100000Z") == PurePosixPath(
        f".partial/replaced/{staging_path(ref).name}-20261123T100000Z"
    )


# --- properties over hostile ids ------------------------------------------------------------

_ID_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"]),
    min_size=1,
    max_size=80,
)


def _valid_id(slashes: bool) -> st.SearchStrategy[str]:
    def ok(value: str) -> bool:
        try:
            check_id(value, slashes=slashes)
        except ValueError:
            return False
        return True

    return _ID_TEXT.filter(ok)


@st.composite
def item_refs(draw: st.DrawFn) -> ItemRef:
    provider, kind = draw(st.sampled_from(sorted(ID_FIELDS)))
    count = len(ID_FIELDS[(provider, kind)])
    ids = tuple(draw(_valid_id(provider == "http")) for _ in range(count))
    return ItemRef(provider, kind, ids)


@given(item_refs())
def test_no_item_path_leaves_the_archive_root(ref: ItemRef) -> None:
    path = item_path(ref)
    root = Path("/archive")
    assert not path.is_absolute()
    assert ".." not in path.parts
    assert "." not in path.parts
    assert path.parts[0] == ref.provider
    assert not path.parts[0].startswith(".")
    assert all(part and "/" not in part and "\\" not in part for part in path.parts)
    assert (root / path).resolve().is_relative_to(root)
    assert not staging_path(ref).is_relative_to(path)


@given(item_refs(), item_refs())
def test_two_keys_share_a_path_only_when_their_ids_sanitise_alike(a: ItemRef, b: ItemRef) -> None:
    assert (item_path(a) == item_path(b)) == (
        (a.provider, a.kind) == (b.provider, b.kind) and item_segments(a) == item_segments(b)
    )


@given(item_refs())
def test_ids_differing_only_in_a_character_sanitising_replaces_share_a_path(ref: ItemRef) -> None:
    """The documented collision: `a:b` and `a_b` are different keys with one directory."""
    colon = ItemRef(ref.provider, ref.kind, (*ref.ids[:-1], ref.ids[-1] + "x:y"))
    underscore = ItemRef(ref.provider, ref.kind, (*ref.ids[:-1], ref.ids[-1] + "x_y"))
    assert colon.key != underscore.key
    assert item_path(colon) == item_path(underscore)


_PLAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=40)


@given(st.lists(_PLAIN, min_size=2, max_size=2, unique=True))
def test_ids_untouched_by_sanitising_never_collide(values: list[str]) -> None:
    # reserved device names (nul, con, com1, ...) are renamed, so they are not "untouched"
    assume(all(sanitize_filename(v) == v for v in values))
    first, second = (ItemRef("scale", "job", (v,)) for v in values)
    assert item_path(first) != item_path(second)


def test_pixxel_jobs_and_tasks_never_share_a_directory() -> None:
    job = ItemRef.parse("pixxel:job:wf/tasks")
    task = ItemRef.parse("pixxel:task:wf/job/task")
    assert item_path(job).parts[1] == "jobs"
    assert item_path(task).parts[1] == "tasks"


# --- purity ---------------------------------------------------------------------------------

IO_MODULES = {"aiohttp", "anyio", "asyncio", "sqlite3", "aiofiles", "socket", "os", "io", "shutil"}


@pytest.mark.parametrize("module_file", [_layout.__file__, _tagfiles.__file__])
def test_pure_archive_modules_import_nothing_that_does_io(module_file: str) -> None:
    tree = ast.parse(Path(module_file).read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert "__future__" in roots
    assert not roots & IO_MODULES
