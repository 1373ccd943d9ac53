"""The bundled `platforms.toml` scenario shows every behaviour of real platforms the
emulator has a knob for, and the downloader meets each as the reliability note says."""

from __future__ import annotations

from pathlib import Path

from downloader.config import PollSettings
from downloader.emulator.scenarios import scenario_text
from downloader.store import ItemState, open_store
from tests.support.once import once_against

POLL = PollSettings(initial_interval=0.05, max_interval=0.1, give_up_after=60)


async def test_the_platforms_scenario_archives_what_it_can_and_fails_the_rest_with_reasons(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, scenario_text("platforms.toml"), poll=POLL) as (_, settings):
        pass
    async with open_store(settings.state.url) as store:
        records = {r.key: r for r in await store.list_items()}
    archived = {key for key, r in records.items() if r.state is ItemState.ARCHIVED}
    assert archived == {
        "pixxel:order_item:oi-late",
        "scale:job:4242",
        "alteryx:job:ayx-warned",
        "alteryx:job:ayx-no-curator",
    }
    errors = {key: r.error or "" for key, r in records.items() if key not in archived}
    assert errors["pixxel:order_item:oi-cancelled"].endswith("oi-cancelled CANCELLED")
    assert errors["pixxel:order_item:oi-expired"].endswith("its task oi-expired-task-1 EXPIRED")
    assert (
        "status 'reticulating-splines' is not a word we know" in errors["pixxel:job:wf-odd/job-odd"]
    )
    assert "Sign in" in errors["alteryx:job:ayx-behind-sso"]
    root = settings.archive.root
    assert (root / "alteryx" / "jobs" / "ayx-warned" / "alteryx-messages.json").is_file()
