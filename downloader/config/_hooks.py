"""`[[hooks]]`: what runs, or is posted to, when an item is archived or fails.

An array of tables, so it is read here rather than through `TABLES` (which
holds plain tables): each entry is checked key by key, every problem named by
its key (`hooks[1].url`), and the entries become `HookSettings`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from downloader.config import _fields as f
from downloader.config._toml import type_name

__all__ = ["EVENT_KINDS", "PLACEHOLDERS", "HookSettings", "parse_hooks"]

EVENT_KINDS = ("archived", "failed")
"""The events a hook can be `on`."""
PLACEHOLDERS = ("item", "archive_path", "state")
"""What a command's arguments may name, as `{item}`."""
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class HookSettings:
    """One `[[hooks]]` entry: a command or a URL, and the events it is for."""

    name: str
    """Names the hook in the outbox, the logs and `status` (default `hook-N`)."""
    on: frozenset[str]
    command: tuple[str, ...] | None = None
    """Run without a shell; `{item}`, `{archive_path}`, `{state}` in it are filled in."""
    url: str | None = None
    """POSTed the event's JSON document, with its event id as `Idempotency-Key`."""
    timeout: float = 60.0
    """Time limit of one delivery (the command's run, or the POST)."""
    retry_delay: float = 10.0
    """Wait after the first failed delivery, doubled after each further one."""
    max_delay: float = 600.0
    """Ceiling of that wait: a hook that keeps failing is tried this often."""


Problem = Callable[[str, str], None]
"""Reports a problem: (dotted key, message)."""


def _on(value: object, ctx: f.Context) -> frozenset[str]:
    kinds = f.text_list(value, ctx)
    unknown = [kind for kind in kinds if kind not in EVENT_KINDS]
    if unknown:
        allowed = ", ".join(map(repr, EVENT_KINDS))
        raise ValueError(f"unknown event {unknown[0]!r} (known: {allowed})")
    return frozenset(kinds)


def _command(value: object, ctx: f.Context) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(
            'expected a non-empty list of strings such as ["/usr/local/bin/ingest", '
            f'"{{archive_path}}"], got {type_name(value)}'
        )
    if not all(isinstance(arg, str) for arg in value):
        raise ValueError("every argument must be a string")
    if not value[0].strip():
        raise ValueError("the program (first argument) must not be empty")
    for arg in value:
        for name in _PLACEHOLDER.findall(arg):
            if name not in PLACEHOLDERS:
                known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")
    return tuple(value)


def _url(value: object, ctx: f.Context) -> str:
    url = f.text(value, ctx).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # the value itself is not repeated: a webhook URL often carries a token
        raise ValueError("must be an http:// or https:// URL")
    return url


_KEYS: dict[str, f.Parser] = {
    "name": f.name,
    "on": _on,
    "command": _command,
    "url": _url,
    "timeout": f.duration(),
    "retry_delay": f.duration(),
    "max_delay": f.duration(),
}


def parse_hooks(value: object, ctx: f.Context, problem: Problem) -> tuple[HookSettings, ...]:
    """The `[[hooks]]` entries in `value`; each problem goes to `problem`, and an entry
    with any is left out (the caller refuses the config as a whole)."""
    if not isinstance(value, list):
        problem("hooks", f"expected [[hooks]] entries (an array of tables), got {type_name(value)}")
        return ()
    hooks: list[HookSettings] = []
    names: set[str] = set()
    for index, entry in enumerate(value):
        where = f"hooks[{index}]"
        if not isinstance(entry, dict):
            problem(where, f"expected a table, got {type_name(entry)}")
            continue
        hook = _entry(entry, index, ctx, _within(where, problem))
        if hook is None:
            continue
        if hook.name in names:
            problem(f"{where}.name", f"another hook is named {hook.name!r}")
            continue
        names.add(hook.name)
        hooks.append(hook)
    return tuple(hooks)


def _within(where: str, problem: Problem) -> Problem:
    def report(key: str, message: str) -> None:
        problem(f"{where}.{key}", message)

    return report


def _entry(
    entry: dict[str, object], index: int, ctx: f.Context, problem: Problem
) -> HookSettings | None:
    values: dict[str, object] = {}
    ok = True
    for key, raw in entry.items():
        parse = _KEYS.get(key)
        if parse is None:
            problem(key, f"unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
            ok = False
            continue
        try:
            values[key] = parse(raw, ctx)
        except ValueError as exc:
            problem(key, str(exc))
            ok = False
    if "on" not in entry:
        problem("on", 'missing required key (e.g. on = ["archived"])')
        ok = False
    if ("command" in entry) == ("url" in entry):
        which = "both" if "command" in entry else "neither"
        problem("command", f"give either command or url, not {which}")
        ok = False
    if not ok:
        return None
    values.setdefault("name", f"hook-{index + 1}")
    hook = HookSettings(**values)  # type: ignore[arg-type]
    if hook.retry_delay > hook.max_delay:
        problem("retry_delay", "must not be longer than max_delay")
        return None
    return hook
