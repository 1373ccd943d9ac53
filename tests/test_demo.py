"""The whole service against the emulator: every item kind, from watchlist to a valid bag."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import bagit
import pytest

from downloader.emulator import expected_files, parse_scenario, scenarios
from downloader.emulator.scenarios import demo_scenario_text
from downloader.runners._demo import next_steps, run_demo
from downloader.store import ItemState, open_store
from downloader.store._models import REPAIRED
from tests.support.cli import downloader
from tests.support.stac import catalog_items, check_bag_stac


async def test_demo_archives_every_item_kind_with_payloads_equal_to_the_source(
    tmp_path: Path,
) -> None:
    result = await run_demo(tmp_path)
    assert result.failed == 0
    expected = expected_files(parse_scenario(demo_scenario_text(), source="demo.toml"))
    async with open_store(f"sqlite:///{tmp_path / '.demo' / 'state.db'}") as store:
        records = {r.key: r for r in await store.list_items()}
        repaired = {
            key for key in records if any(e.kind == REPAIRED for e in await store.events(key))
        }
    # the task's package has a bit flipped on the way (`corrupt_member`): repaired, once
    assert repaired == {"pixxel:task:wf-ndvi-2026/job-0001/task-cloudmask"}
    assert set(records) == set(expected)
    kinds = {(r.provider, r.kind) for r in records.values()}
    assert kinds >= {
        ("pixxel", "job"),
        ("pixxel", "task"),
        ("pixxel", "catalog"),
        ("pixxel", "order_item"),
        ("scale", "job"),
        ("alteryx", "job"),
    }
    # the nightly workflow is named by a source: its runs were listed, then archived
    nightly = {k for k in records if k.startswith("pixxel:job:wf-nightly/")}
    assert len(nightly) == 2
    for key, record in records.items():
        assert record.state is ItemState.ARCHIVED, (key, record.error)
        assert record.archive_path is not None
        bag = bagit.Bag(record.archive_path)
        bag.validate()
        assert bag.info["External-Identifier"] == key
        sources = {f.sha256 for f in expected[key]}
        payload = {path: digests["sha256"] for path, digests in bag.payload_entries().items()}
        assert payload
        assert set(payload.values()) <= sources, key
        # a STAC Item that validates, its checksums the manifest's; linked by the catalog
        item = check_bag_stac(Path(record.archive_path))
        assert item["id"] == key
        # the catalog and the order item: the footprint and time Pixxel's records gave
        if record.kind in ("catalog", "order_item"):
            assert item["geometry"]["type"] == "Polygon", key
            assert len(item["bbox"]) == 4
            assert "downloader:datetime_from" not in item["properties"]
    linked = catalog_items(tmp_path)
    assert linked == {key: Path(r.archive_path or "").resolve() for key, r in records.items()}


async def test_a_second_demo_fetches_nothing_and_says_so_with_no_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_demo(tmp_path)
    first = capsys.readouterr().out
    await run_demo(tmp_path)
    second = capsys.readouterr().out
    assert re.search(r"^9 archived, 0 failed: .* MiB in .* s; fetched .* at .* MiB/s$", first, re.M)
    assert re.search(r"^9 archived, 0 failed: .* MiB in .* s; nothing fetched$", second, re.M)
    assert "source pixxel:workflow:wf-nightly" in second
    assert "next:" in second


def test_the_next_steps_name_a_command_the_user_s_shell_can_run(tmp_path: Path) -> None:
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "activate").write_text("")
    program = venv_bin / "downloader"
    config = tmp_path / "demo-archive" / ".demo" / "config.toml"
    # make demo: the venv's program, which no PATH names
    steps = next_steps(config, program, on_path=None)
    assert f"  {program} verify -c {config}" in "\n".join(steps)
    assert any(f". {venv_bin / 'activate'}" in line for line in steps)
    # an activated venv (or an installed program): the plain name works
    steps = next_steps(config, program, on_path=str(program))
    assert any(line.startswith(f"  downloader verify -c {config}") for line in steps)
    assert not any("activate" in line for line in steps)


def run_cli_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return downloader("demo", *args)


@pytest.mark.slow
def test_the_demo_serves_a_scenario_file_and_exits_1_when_it_fails_some_items(
    tmp_path: Path,
) -> None:
    scenario = Path(scenarios.__file__).with_name("platforms.toml")
    done = run_cli_demo("--scenario", str(scenario), "--target", str(tmp_path / "archive"))
    assert done.returncode == 1, done.stderr
    # the platforms scenario archives what it can and fails the rest with reasons
    assert "pixxel:order_item:oi-cancelled failed: RemoteJobFailed" in done.stdout
    assert list((tmp_path / "archive" / "alteryx" / "jobs").iterdir())


def test_a_scenario_that_cannot_be_used_is_said_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[emulator]\nno_such_knob = 1\n[[pixxel.job]]\nworkflow_id = "w"\n')
    done = run_cli_demo("--scenario", str(bad), "--target", str(tmp_path / "a"))
    assert done.returncode == 2
    assert str(bad) in done.stderr
    assert "Traceback" not in done.stderr
    missing = run_cli_demo("--scenario", str(tmp_path / "none.toml"), "--target", str(tmp_path))
    assert missing.returncode == 2
    assert "cannot read the scenario" in missing.stderr
