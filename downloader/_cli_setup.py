"""What the commands that load a config do first: settings read, secrets registered,
umask tightened, the state database begun; how a command sees a store error that ended
a task group, and says what stopped a run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from downloader.config import Settings

T = TypeVar("T")


def load_settings(
    path: Path, *, logs: bool, secrets: bool = True, store_early: bool = False
) -> Settings | None:
    """The settings in `path`, or None after printing every problem of the file; its
    warnings as log lines when `logs` (off a terminal, stderr is then JSON only).
    Without `secrets` (for commands that call no platform) no secret is read; with
    `store_early` the state database begins to open, on a thread of its own, while
    the command imports what it runs (`store._early`)."""
    from downloader.config import load_config
    from downloader.errors import ConfigError

    try:
        settings = load_config(path, secrets=secrets)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None
    if logs:
        import structlog

        for warning in settings.warnings:
            structlog.get_logger("downloader.config").warning("config.warning", problem=warning)
    else:
        for warning in settings.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    restrict_umask()
    register_secrets(settings)
    if store_early:
        from downloader.store import open_early

        open_early(settings.state.url)
    return settings


def register_secrets(settings: Settings) -> None:
    """Every configured secret value is scrubbed from log lines from here on."""
    import dataclasses

    from downloader.config import Secret
    from downloader.redact import REDACTOR

    for name in settings.providers.enabled:
        provider = getattr(settings.providers, name)
        REDACTOR.add(
            value.reveal()
            for field in dataclasses.fields(provider)
            if isinstance(value := getattr(provider, field.name), Secret)
        )


def restrict_umask() -> None:
    """Files and folders made from here on are not for others (umask 027 or tighter).

    The state names every item and the archive holds paid-for data; group members
    may read both (a backup or audit account), nobody else may.
    """
    os.umask(os.umask(0o027) | 0o027)


def unusable(exc: Exception) -> str:
    """What stops a run before it starts: the state store, or the archive's folder."""
    from downloader.errors import StoreError

    return f"state store: {exc}" if isinstance(exc, StoreError) else str(exc)


async def unwrap_store_error(work: Awaitable[T]) -> T:
    """`await work`, raising a StoreError that ended it from inside a task group as itself."""
    from downloader.errors import StoreError

    try:
        return await work
    except BaseExceptionGroup as group:
        found: BaseException | None = group.subgroup(StoreError)
        while isinstance(found, BaseExceptionGroup):
            found = found.exceptions[0]
        if found is None:
            raise
        raise found from None
