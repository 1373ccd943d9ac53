"""An entry listed again under its key with another definition (another URL, another
expected digest) is worked again by itself; an archived item and its bag never are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.items import ItemRef
from downloader.store import ItemState, open_store
from downloader.store._rows import plan_redefined
from tests.support.daemon import Daemon, Setup, until

MiB = 1 << 20


def test_only_a_known_definition_that_differs_is_a_change() -> None:
    known = {"a": "d1", "b": "d1", "c": None, "gone": "d1"}
    wanted = {"a": "d1", "b": "d2", "c": "d3", "new": "d4"}
    # c was stored before definitions were kept: recorded, not taken for a change
    assert plan_redefined(known, wanted) == (("b",), ("c",))


def test_a_definition_is_a_digest_of_url_and_expected_sha256_never_the_url() -> None:
    url = "https://bucket.example.org/a.tif?X-Amz-Signature=s3cr3t"
    one = ItemRef("http", "file", ("a",), url=url)
    assert one.definition is not None
    assert "s3cr3t" not in one.definition
    assert one.definition != ItemRef("http", "file", ("a",), url=url, sha256="0" * 64).definition
    assert ItemRef.parse("pixxel:job:wf/j").definition is None


def write_watchlist(path: Path, entries: list[tuple[str, str, str | None]]) -> None:
    lines = []
    for item_id, url, sha256 in entries:
        lines += ["[[http.file]]", f'url = "{url}"', f'id = "{item_id}"']
        lines += [f'sha256 = "{sha256}"'] if sha256 else []
        lines.append("")
    path.write_text("\n".join(lines))


async def test_a_failed_entry_given_a_new_url_and_digest_is_worked_again_by_once(
    file_host: RunningHost, tmp_path: Path
) -> None:
    first, second, kept = SeededContent(1, 6000), SeededContent(2, 7000), SeededContent(3, 500)
    file_host.host.add(FileSpec("/v1.bin", first))
    file_host.host.add(FileSpec("/v2.bin", second))
    file_host.host.add(FileSpec("/kept.bin", kept))
    watchlist = tmp_path / "watchlist.toml"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{watchlist}"\n'
    )

    async def once() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "downloader", "once", "-c", str(config)]
        return await anyio.to_thread.run_sync(
            lambda: subprocess.run(command, capture_output=True, text=True, timeout=90)
        )

    # v1.bin is not what the entry expects: the item fails for good
    write_watchlist(
        watchlist,
        [
            ("scene", file_host.url("/v1.bin"), second.hexdigest()),
            ("kept", file_host.url("/kept.bin"), None),
        ],
    )
    assert (await once()).returncode == 1
    bag = tmp_path / "archive" / "http" / "kept"
    before = {p.name: p.stat().st_mtime_ns for p in bag.rglob("*")}
    # the entry is corrected; the archived one is listed with another URL too
    write_watchlist(
        watchlist,
        [
            ("scene", file_host.url("/v2.bin"), second.hexdigest()),
            ("kept", file_host.url("/elsewhere.bin"), None),
        ],
    )
    file_host.host.log.clear()
    done = await once()
    assert done.returncode == 0, done.stderr
    async with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        states = {r.key: r.state for r in await store.list_items()}
    assert states == {"http:file:scene": ItemState.ARCHIVED, "http:file:kept": ItemState.ARCHIVED}
    scene = tmp_path / "archive" / "http" / "scene" / "data" / "v2.bin"
    assert scene.read_bytes() == second.read(0, second.size)
    assert {p.name: p.stat().st_mtime_ns for p in bag.rglob("*")} == before
    assert {r.path for r in file_host.host.log} == {"/v2.bin"}  # nothing asked of the rest


async def test_the_daemon_cancels_the_work_of_an_entry_given_another_url_and_fetches_that(
    file_host: RunningHost, tmp_path: Path
) -> None:
    slow, fast = SeededContent(4, 6 * MiB), SeededContent(5, 300_000)
    file_host.host.add(FileSpec("/slow.bin", slow), Faults(rate_bytes_per_s=MiB // 4))
    file_host.host.add(FileSpec("/fast.bin", fast))
    setup = Setup(tmp_path)
    setup.write_config(check_interval="200ms")
    setup.write_watchlist({"x": file_host.url("/slow.bin")})
    daemon = Daemon(setup.config, tmp_path / "run.log")
    try:

        def served() -> int:
            return sum(r.bytes_sent for r in file_host.host.log if r.path == "/slow.bin")

        await until(lambda: served() >= MiB // 2, what="half a MiB of slow.bin served")
        setup.write_watchlist({"x": file_host.url("/fast.bin")})
        bag = setup.bag("x")
        await until(lambda: (bag / "tagmanifest-sha256.txt").is_file(), what="x archived")
        assert daemon.process.poll() is None, daemon.stderr
    finally:
        code = await daemon.stop()
    assert code == 0, daemon.stderr
    assert sorted(p.name for p in (bag / "data").iterdir()) == ["fast.bin"]
    assert (bag / "data" / "fast.bin").read_bytes() == fast.read(0, fast.size)
    assert served() < slow.size  # the old download was given up, not finished
    stopped = daemon.events("item.stopped")
    assert [e["reason"] for e in stopped] == ["its definition changed in the watchlist"]
