"""The config file's schema as one declarative table.

`TABLES` maps each table's dotted path to its keys (key -> parser) and to the
function that turns the parsed values into a settings object.  Defaults are
not repeated here: a key left out is simply not passed, and the settings
dataclass (or `Limits`/`Timeouts`) supplies its own default.  Adding a key is
one line here plus the field in `_schema.py`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from downloader.config import _fields as f
from downloader.config._files import CA_FILE_LIMIT, read_regular
from downloader.config._places import folder_problem, regular_file_problem
from downloader.config._schema import (
    AlteryxSettings,
    ArchiveSettings,
    MetricsSettings,
    PixxelSettings,
    PollSettings,
    RetrySettings,
    ScaleSettings,
    ServiceSettings,
    StateSettings,
    TransferSettings,
    WatchlistSettings,
)
from downloader.config._units import format_duration
from downloader.transfer import Limits, Timeouts
from downloader.transfer._tls import tls_context

__all__ = ["RETIRED", "TABLES", "Key", "Table", "schema_keys"]


@dataclass(frozen=True)
class Key:
    """One key of a table: how to parse it, and whether it must be written."""

    parse: f.Parser
    required: bool = False


Problems = list[tuple[str, str]]
"""(key within the table, message) pairs from a table's cross-key check."""


def _no_check(built: Any) -> Problems:
    return []


@dataclass(frozen=True)
class Table:
    """One table of the file; `build` is None for tables that only hold other tables."""

    keys: Mapping[str, Key]
    build: Callable[[dict[str, Any]], Any] | None
    check: Callable[[Any], Problems] = field(default=_no_check)


# Upper bounds of the counts: each is a number of tasks, connections or open files the
# process keeps at once (several per transfer), well within a default limit of 1024
# open files; a larger value would fail at run time instead of here.
MAX_CONCURRENT = 256
MAX_PER_HOST = 64
MAX_SEGMENTS = 64
# Upper bounds of the tries: a count of requests made for one item, where a larger
# number is no policy but a typo (attempts = 0 already means never give up).
MAX_TRIES = 1000
SHORTEST_LEASE = 1.0
"""A lease is renewed every third of it, by a store write; below a second that write
(an fsync, a round trip to PostgreSQL) may not be done before the lease runs out."""

# [transfer] key -> field of Timeouts; the keys of `_OWN_FIELDS` are TransferSettings'
# own; every other [transfer] key is a field of Limits.
_TIMEOUT_FIELDS = {"connect_timeout": "connect", "stall_timeout": "stall"}
_OWN_FIELDS = ("ca_file", "repair_attempts")


def _build_transfer(values: dict[str, Any]) -> TransferSettings:
    values = dict(values)
    own = {k: values.pop(k) for k in _OWN_FIELDS if k in values}
    limits = {k: v for k, v in values.items() if k not in _TIMEOUT_FIELDS}
    timeouts = {_TIMEOUT_FIELDS[k]: v for k, v in values.items() if k in _TIMEOUT_FIELDS}
    return TransferSettings(limits=Limits(**limits), timeouts=Timeouts(**timeouts), **own)


def _check_transfer(transfer: TransferSettings) -> Problems:
    if transfer.ca_file is None:
        return []
    try:
        read_regular(transfer.ca_file, limit=CA_FILE_LIMIT)  # not a FIFO nor a device
    except ValueError as exc:
        return [("ca_file", f"cannot read {transfer.ca_file}: {exc}")]
    try:
        tls_context(transfer.ca_file)
    except ssl.SSLError as exc:  # before OSError, of which it is a kind
        return [("ca_file", f"{transfer.ca_file} holds no usable PEM certificate ({exc})")]
    except OSError as exc:
        return [("ca_file", f"cannot read {transfer.ca_file}: {exc.strerror or exc}")]
    return []


def _check_archive(archive: ArchiveSettings) -> Problems:
    problem = folder_problem(archive.root)
    return [] if problem is None else [("root", problem)]


def _check_state(state: StateSettings) -> Problems:
    scheme, _, rest = state.url.partition(":///")
    problem = regular_file_problem(Path(rest)) if scheme == "sqlite" else None
    return [] if problem is None else [("url", problem)]


def _check_poll(poll: PollSettings) -> Problems:
    if poll.initial_interval > poll.max_interval:
        return [
            (
                "initial_interval",
                f"must not be longer than max_interval ({format_duration(poll.max_interval)})",
            )
        ]
    return []


def _check_retry(retry: RetrySettings) -> Problems:
    if retry.initial_delay > retry.max_delay:
        ceiling = format_duration(retry.max_delay)
        return [("initial_delay", f"must not be longer than max_delay ({ceiling})")]
    return []


TABLES: dict[str, Table] = {
    "": Table({}, None),
    "archive": Table(
        {"root": Key(f.path), "extract": Key(f.boolean)},
        lambda v: ArchiveSettings(**v),
        _check_archive,
    ),
    "state": Table({"url": Key(f.state_url)}, lambda v: StateSettings(**v), _check_state),
    "watchlist": Table(
        {"path": Key(f.path), "check_interval": Key(f.duration())},
        lambda v: WatchlistSettings(**v),
    ),
    "providers": Table({}, None),
    "providers.pixxel": Table(
        {
            "base_url": Key(f.http_url),
            "api_key": Key(f.secret),
            "auth_scheme": Key(f.choice("raw", "bearer")),
        },
        lambda v: PixxelSettings(**v),
    ),
    "providers.scale": Table(
        {
            "base_url": Key(f.http_url, required=True),
            "api_version": Key(f.choice("v6", "legacy")),
            "token": Key(f.secret),
        },
        lambda v: ScaleSettings(**v),
    ),
    "providers.alteryx": Table(
        {
            "base_url": Key(f.http_url, required=True),
            "client_id": Key(f.secret, required=True),
            "client_secret": Key(f.secret, required=True),
            "output_format": Key(f.text),
            "accept_dispositions": Key(f.text_list),
        },
        lambda v: AlteryxSettings(**v),
    ),
    "transfer": Table(
        {
            "max_concurrent": Key(f.integer(1, MAX_CONCURRENT)),
            "max_per_host": Key(f.integer(1, MAX_PER_HOST)),
            "segments": Key(f.integer(1, MAX_SEGMENTS)),
            "segment_min_size": Key(f.size),
            "bandwidth_limit": Key(f.size),
            "min_free_space": Key(f.size),
            "connect_timeout": Key(f.duration()),
            "stall_timeout": Key(f.duration()),
            "ca_file": Key(f.path),
            "repair_attempts": Key(f.integer(0, MAX_TRIES)),
        },
        _build_transfer,
        _check_transfer,
    ),
    "poll": Table(
        {
            "initial_interval": Key(f.duration()),
            "max_interval": Key(f.duration()),
            "give_up_after": Key(f.duration()),
            "unreadable_limit": Key(f.integer(1, MAX_TRIES)),
        },
        lambda v: PollSettings(**v),
        _check_poll,
    ),
    "retry": Table(
        {
            "attempts": Key(f.integer(0, MAX_TRIES)),
            "initial_delay": Key(f.duration()),
            "max_delay": Key(f.duration()),
        },
        lambda v: RetrySettings(**v),
        _check_retry,
    ),
    "service": Table(
        {
            "node_id": Key(f.name),
            "grace_period": Key(f.duration(positive=False)),
            "lease_duration": Key(f.duration(minimum=SHORTEST_LEASE)),
            "hook_wait": Key(f.duration(positive=False)),
        },
        lambda v: ServiceSettings(**v),
    ),
    "metrics": Table({"listen": Key(f.listen_address)}, lambda v: MetricsSettings(**v)),
}


RETIRED = {
    "service.compact_threads": (
        "the transfer engine no longer moves its threads between CPUs; "
        "the key is ignored and may be removed"
    ),
}
"""Keys that no longer do anything: still read without a problem, so that an old file
loads, with a warning that says so."""


def schema_keys() -> list[str]:
    """Every key the config file accepts, as dotted paths (`transfer.segments`)."""
    return [f"{table}.{key}" for table, spec in TABLES.items() for key in spec.keys]
