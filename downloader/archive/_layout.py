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

import hashlib
from pathlib import PurePosixPath

from downloader.items import ItemRef
from downloader.transfer._names import safe_join, sanitize_filename

__all__ = [
    "BAGS_DIR",
    "PARTIAL_DIR",
    "REPLACED_DIR",
    "item_path",
    "item_segments",
    "replaced_path",
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


def replaced_path(ref: ItemRef, stamp: str) -> PurePosixPath:
    """Where a bag of `ref` goes when a new one takes its place: `.partial/replaced/<hash>-<stamp>`.

    `stamp` (a UTC time such as `20261123T100000Z`) keeps several replacements apart.
    """
    return REPLACED_DIR / f"{_key_hash(ref)}-{_segment(stamp)}"
