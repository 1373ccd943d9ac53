"""Where an item lives in the archive tree, and where its work in progress lives.

A pure core: item references in, relative `PurePosixPath`s out.  Nothing here may
import anyio, asyncio or os, or touch the filesystem.

Every id is hostile input: each one is sanitised into a single path segment (an
http id into one segment per "/"-separated part), so no id can climb out of its
item's directory nor out of the archive root.

Two keys of the same kind map to the same path exactly when their ids sanitise to
the same segments: `alteryx:job:a:b` and `alteryx:job:a_b` share `alteryx/jobs/a_b`,
and two ids that agree in their first ~200 bytes share a directory once cut.  The
bag's `External-Identifier` tells them apart, and `BagBuilder.finish` refuses to put
one item's bag where another item's bag already is.  http ids can also nest
(`host/a` and `host/a/b`): `finish` refuses to put a bag inside another bag too.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import PurePosixPath

from downloader.items import ItemRef
from downloader.transfer._names import safe_join, sanitize_filename

__all__ = [
    "BAGS_DIR",
    "PARTIAL_DIR",
    "REPLACED_DIR",
    "item_path",
    "item_segments",
    "nesting_refusals",
    "replaced_path",
    "replaced_prefix",
    "staging_path",
]

PARTIAL_DIR = PurePosixPath(".partial")
"""Everything not yet (or no longer) an archived item, relative to the archive root."""
BAGS_DIR = PARTIAL_DIR / "bags"
"""Bags being assembled, one folder per item key."""
REPLACED_DIR = PARTIAL_DIR / "replaced"
"""Bags moved aside when their item was archived again; never deleted by the service."""

# The folder under the provider's own one, per (provider, kind).
_KIND_DIRS: dict[tuple[str, str], str] = {
    ("pixxel", "job"): "jobs",
    ("pixxel", "task"): "tasks",
    ("pixxel", "catalog"): "catalogs",
    ("pixxel", "order_item"): "order-items",
    ("scale", "job"): "jobs",
    ("alteryx", "job"): "jobs",
}
_RELATIVE_ROOT = PurePosixPath(".")


def _segment(value: str) -> str:
    # "_" rather than the default fallback: an id made of dots only stays recognisable.
    return sanitize_filename(value, fallback="_")


def item_segments(ref: ItemRef) -> tuple[str, ...]:
    """The sanitised path segments of `ref`'s directory, provider first."""
    if ref.provider == "http":
        return ("http", *(_segment(part) for part in ref.ids[0].split("/") if part))
    kind_dir = _KIND_DIRS.get((ref.provider, ref.kind))
    if kind_dir is None:
        raise ValueError(f"no archive layout for {ref.provider}:{ref.kind}")
    return (ref.provider, kind_dir, *(_segment(value) for value in ref.ids))


def item_path(ref: ItemRef) -> PurePosixPath:
    """The directory of `ref`'s bag, relative to the archive root.

    `pixxel:job:wf-1/job-2` -> `pixxel/jobs/wf-1/job-2`;
    `http:file:bucket.example.org/path/scene.zip` -> `http/bucket.example.org/path/scene.zip`.
    Always relative, never with a "." or ".." part, never inside `.partial`.
    """
    # safe_join re-checks every segment and that the result stays below the root.
    return safe_join(_RELATIVE_ROOT, *item_segments(ref))


def _key_hash(ref: ItemRef) -> str:
    return hashlib.sha256(ref.key.encode()).hexdigest()[:32]


def staging_path(ref: ItemRef) -> PurePosixPath:
    """Where `ref`'s bag is assembled: `.partial/bags/<hash of the key>`.

    Stable across runs, so a restarted worker finds what was already fetched.
    """
    return BAGS_DIR / _key_hash(ref)


def replaced_prefix(ref: ItemRef) -> str:
    """How the name of every folder below `.partial/replaced` holding a bag of `ref` begins."""
    return f"{_key_hash(ref)}-"


def replaced_path(ref: ItemRef, stamp: str) -> PurePosixPath:
    """Where a bag of `ref` goes when a new one takes its place: `.partial/replaced/<hash>-<stamp>`.

    `stamp` (a UTC time such as `20261123T100000Z`) keeps several replacements apart.
    """
    return REPLACED_DIR / f"{replaced_prefix(ref)}{_segment(stamp)}"


@functools.lru_cache(maxsize=1 << 16)
def _cached_segment(value: str) -> str:
    # host names and folders repeat across thousands of http ids
    return _segment(value)


def _http_segments(key: str) -> tuple[str, ...] | None:
    """The folders of an http item's key (`http:<kind>:<id>`); None for other providers,
    whose paths have one depth per kind and so cannot nest."""
    provider, _, rest = key.partition(":")
    if provider != "http":
        return None
    _, _, ident = rest.partition(":")
    return tuple(_cached_segment(part) for part in ident.split("/") if part)


def nesting_refusals(new: Iterable[str], known: Iterable[str]) -> dict[str, str]:
    """The keys of `new` to refuse, each with the reason: its bag would lie inside the
    bag of another item, or hold one (`host/a` and `host/a/b`).

    Two new keys that nest are both refused; a new key that nests with a `known` one
    (already in the store, perhaps archived) is refused and the known one kept.
    Nesting among known keys is not this function's business.
    """
    new_paths = {key: path for key in new if (path := _http_segments(key))}
    if not new_paths:
        return {}
    owner: dict[tuple[str, ...], str] = {}  # a bag's folder -> its key
    under: dict[tuple[str, ...], str] = {}  # a folder above some bag -> one such key
    for key in known:
        path = _http_segments(key)
        if path:
            owner.setdefault(path, key)
            for depth in range(1, len(path)):
                under.setdefault(path[:depth], key)
    for key, path in new_paths.items():
        owner.setdefault(path, key)
        for depth in range(1, len(path)):
            under.setdefault(path[:depth], key)
    refused: dict[str, str] = {}
    for key, path in new_paths.items():
        inside = next((owner[path[:d]] for d in range(1, len(path)) if path[:d] in owner), None)
        holding = under.get(path)
        if inside is not None:
            refused[key] = f"its bag would lie inside the bag of {inside}"
        elif holding is not None:
            refused[key] = f"its bag would hold the bag of {holding}"
        # a new key nested with another new one: both refused, whichever found first
        other = inside or holding
        if other is not None and other in new_paths and other not in refused:
            relation = "hold" if inside is not None else "lie inside"
            refused[other] = f"its bag would {relation} the bag of {key}"
    return refused
