"""The shell of `downloader verify`: the bags named or archived, each audited, lines printed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from downloader.archive import item_path, verify_bag
from downloader.config import Settings
from downloader.errors import StoreError
from downloader.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.sources import is_source_key
from downloader.store import ItemState, open_store

__all__ = ["run_verify"]


def run_verify(settings: Settings, items: Sequence[str]) -> int:
    """Exit 0 when every bag is intact, 1 otherwise, 2 on a malformed item or a state
    store that cannot be read (damaged, locked or foreign: said, never a traceback)."""
    wanted: list[ItemRef] = []
    sources: list[str] = []  # a source stands for every item it listed
    for text in items:
        try:
            wanted.append(ItemRef.parse(text))
        except ValueError as exc:
            if not is_source_key(text):
                print(f"bad item: {exc}", file=sys.stderr)
                return EXIT_USAGE
            sources.append(text)
    root = settings.archive.root
    unknown: list[str] = []

    async def bags() -> list[tuple[str, Path]]:
        if sources:
            async with open_store(settings.state.url) as store:
                for key in sources:
                    listed = await store.sources().listed_by(key)
                    wanted.extend(ItemRef.parse(item) for item in listed)
                    if not listed:
                        unknown.append(key)
        if wanted or sources:
            return [(ref.key, root / item_path(ref)) for ref in wanted]
        async with open_store(settings.state.url) as store:
            records = await store.list_items(include_inactive=True)
        return [
            (r.key, Path(r.archive_path))
            for r in records
            if r.state is ItemState.ARCHIVED and r.archive_path
        ]

    try:
        found = anyio.run(bags)
    except StoreError as exc:
        print(f"state store: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # walked from the root by descriptors: a link planted below it is reported, not entered
    jail = Jail(root)
    intact = True
    for key in unknown:
        print(f"{key}: a source that listed no item")
        intact = False
    for key, path in found:
        audit = verify_bag(path, jail=jail if jail.contains(path) else None)
        if audit.bag_missing:
            print(f"{key}: missing ({path})")
            intact = False
            continue
        intact = intact and audit.ok
        print("\n".join(audit.report_lines()))
    return EXIT_OK if intact else EXIT_FAILED
