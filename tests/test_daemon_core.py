"""The daemon's pure decisions: status text, throughput, watchlist changes, reload scope."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from downloader.config import (
    PollSettings,
    RetrySettings,
    ServiceSettings,
    Settings,
    StateSettings,
    TransferSettings,
    WatchlistSettings,
)
from downloader.runners._daemon_core import (
    FileStamp,
    Throughput,
    format_rate,
    has_changed,
    is_whole_file_failure,
    restart_keys,
    status_text,
)
from downloader.store import ItemState
from downloader.transfer import Limits, Timeouts
from downloader.watchlist import parse_watchlist

STAMP = FileStamp(mtime_ns=1_000, size=50, inode=7)


def test_a_first_stamp_or_any_difference_means_read_the_watchlist_again() -> None:
    assert has_changed(None, STAMP)
    assert not has_changed(STAMP, STAMP)
    assert has_changed(STAMP, dataclasses.replace(STAMP, mtime_ns=1_001))
    assert has_changed(STAMP, dataclasses.replace(STAMP, size=51))
    # renamed into place by an editor: same size and time, another inode
    assert has_changed(STAMP, dataclasses.replace(STAMP, inode=8))


def test_a_vanished_watchlist_is_no_change_to_act_on() -> None:
    assert not has_changed(STAMP, None)
    assert not has_changed(None, None)


def test_only_a_file_that_cannot_be_read_at_all_keeps_the_previous_items() -> None:
    broken = parse_watchlist("[[http.file]\nurl = ", file="w.toml")
    assert is_whole_file_failure(broken)
    one_bad = parse_watchlist(
        '[[http.file]]\nurl = "ftp://x/y"\n[[http.file]]\nurl = "http://127.0.0.1/a"\n',
        file="w.toml",
    )
    assert one_bad.problems
    assert len(one_bad.items) == 1
    assert not is_whole_file_failure(one_bad)
    only_bad = parse_watchlist('[[http.file]]\nurl = "ftp://x/y"\n', file="w.toml")
    assert not only_bad.items
    assert not is_whole_file_failure(only_bad)  # an entry-level problem: the list is empty
    assert not is_whole_file_failure(parse_watchlist("", file="w.toml"))


def test_throughput_is_bytes_moved_over_the_window() -> None:
    meter = Throughput(window=20.0)
    assert meter.rate() == 0.0
    meter.add(0.0, 0)
    assert meter.rate() == 0.0
    meter.add(10.0, 1000)
    assert meter.rate() == 100.0
    meter.add(20.0, 2000)
    meter.add(30.0, 14_000)
    # the sample at 0 s fell out of the window: (14000 - 1000) / 20 s
    assert meter.rate() == 650.0


def test_throughput_ignores_a_falling_total() -> None:
    meter = Throughput(window=60.0)
    meter.add(0.0, 5000)
    meter.add(1.0, 6000)
    meter.add(2.0, 1000)  # an item removed from the watchlist: its bytes leave the total
    meter.add(3.0, 2000)
    assert meter.rate() == 2000 / 3


def test_status_text_lists_the_states_that_have_items_and_the_rate() -> None:
    counts = {state: 0 for state in ItemState}
    counts |= {ItemState.ARCHIVED: 10, ItemState.DOWNLOADING: 2, ItemState.FAILED: 1}
    assert status_text(counts, 12_500_000, stopping=False) == (
        "2 downloading, 10 archived, 1 failed; 12.5 MB/s"
    )
    assert status_text({}, 0.0, stopping=True) == "stopping: no items; 0 B/s"


def test_rates_are_written_in_decimal_units() -> None:
    assert format_rate(999) == "999 B/s"
    assert format_rate(1500) == "1.5 kB/s"
    assert format_rate(2_000_000_000) == "2.0 GB/s"


def test_a_reload_applies_watchlist_poll_provider_and_grace_settings_live() -> None:
    old = Settings()
    new = dataclasses.replace(
        old,
        watchlist=WatchlistSettings(path=Path("/elsewhere.toml"), check_interval=9.0),
        poll=PollSettings(initial_interval=1.0),
        retry=RetrySettings(attempts=0, initial_delay=5.0, max_delay=60.0),
        service=dataclasses.replace(old.service, grace_period=5.0),
    )
    assert restart_keys(old, new) == []


def test_a_reload_names_the_changed_keys_that_need_a_restart() -> None:
    old = Settings()
    new = dataclasses.replace(
        old,
        state=StateSettings(url="sqlite:////other.db"),
        transfer=TransferSettings(limits=Limits(segments=2), timeouts=Timeouts(stall=5.0)),
        service=ServiceSettings(node_id="other", grace_period=old.service.grace_period),
    )
    assert restart_keys(old, new) == [
        "service.node_id",
        "state.url",
        "transfer.segments",
        "transfer.stall_timeout",
    ]
