"""`downloader retry`: failed items put back (named, or all with --failed), an unknown
item refused with 2, and an archived item and its bag never touched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio

from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from downloader.runners._put_back import PutBack, plan_put_back
from downloader.store import ItemState, open_store

S = ItemState


def test_named_failed_items_go_back_and_the_others_are_left_as_they_are() -> None:
    states = {
        "http:file:a": (S.FAILED, True),
        "http:file:b": (S.ARCHIVED, True),
        "http:file:c": (S.FAILED, False),
        "http:file:d": (S.DOWNLOADING, True),
    }
    plan = plan_put_back(states, ["http:file:c", "http:file:b"], every_failed=False)
    assert plan == PutBack(put_back=("http:file:c",), left=(("http:file:b", S.ARCHIVED),))
    assert plan.lines() == [
        "http:file:c: put back (waiting)",
        "http:file:b: archived, left as it is",
    ]


def test_failed_takes_every_failed_item_of_the_watchlist_and_unknown_names_are_listed() -> None:
    states = {"http:file:a": (S.FAILED, True), "http:file:c": (S.FAILED, False)}
    assert plan_put_back(states, [], every_failed=True).put_back == ("http:file:a",)
    both = plan_put_back(states, ["http:file:a", "http:file:zz"], every_failed=True)
    assert (both.put_back, both.unknown) == (("http:file:a",), ("http:file:zz",))


def downloader(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "downloader", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `folder`: inode, mtime and bytes."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


async def test_retry_puts_failed_items_back_and_never_touches_an_archived_bag(
    file_host: RunningHost, tmp_path: Path
) -> None:
    file_host.host.add(FileSpec("/r/good.bin", SeededContent(1, 5000)))
    (tmp_path / "watchlist.toml").write_text(
        f'[[http.file]]\nurl = "{file_host.url("/r/good.bin")}"\nid = "good"\n\n'
        f'[[http.file]]\nurl = "{file_host.url("/r/late.bin")}"\nid = "late"\n'
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
    )
    c = ("-c", str(config))

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await anyio.to_thread.run_sync(lambda: downloader(*args))

    first = await run("once", *c)
    assert first.returncode == 1, first.stderr  # late.bin is not there yet: 404
    bag = tmp_path / "archive" / "http" / "good"
    before = snapshot(bag)
    assert before

    async def states() -> dict[str, tuple[ItemState, int, str | None]]:
        async with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
            return {r.key: (r.state, r.attempts, r.error) for r in await store.list_items()}

    failed = await states()
    assert failed["http:file:late"][0] is S.FAILED
    assert failed["http:file:good"][0] is S.ARCHIVED

    assert (await run("retry", *c)).returncode == 2  # nothing named
    assert (await run("retry", "nope:file:x", *c)).returncode == 2  # not an item
    unknown = await run("retry", "http:file:late", "http:file:missing", *c)
    assert unknown.returncode == 2
    assert "http:file:missing: unknown item" in unknown.stderr
    assert await states() == failed  # nothing changed

    archived = await run("retry", "http:file:good", *c)
    assert archived.returncode == 0, archived.stderr
    assert "http:file:good: archived, left as it is" in archived.stdout
    assert await states() == failed

    again = await run("retry", "--failed", *c)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["http:file:late: put back (waiting)"]
    assert (await states())["http:file:late"] == (S.WAITING, 0, None)

    file_host.host.add(FileSpec("/r/late.bin", SeededContent(2, 7000)))
    done = await run("once", *c)
    assert done.returncode == 0, done.stderr
    assert {state for state, _, _ in (await states()).values()} == {S.ARCHIVED}
    assert snapshot(bag) == before  # the archived bag: same files, same bytes, untouched
