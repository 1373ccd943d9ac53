"""Item references: what the watchlist names and what the command line accepts.

An item is one remote result (a Pixxel job, a Scale job, a signed URL, ...)
that becomes one bag in the archive.  Its key, `provider:kind:id[/id...]`, is
its identity everywhere: in the state store, in `bag-info.txt`, on the command
line.  Pure values only; nothing here does I/O.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

__all__ = [
    "ID_FIELDS",
    "ItemRef",
    "ProviderName",
    "check_id",
    "check_sha256",
    "check_url",
    "default_http_id",
    "kinds_of",
]


class ProviderName(StrEnum):
    """The platforms (and plain URLs) items can come from."""

    PIXXEL = "pixxel"
    SCALE = "scale"
    ALTERYX = "alteryx"
    HTTP = "http"


ID_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("pixxel", "job"): ("workflow_id", "job_id"),
    ("pixxel", "task"): ("workflow_id", "job_id", "task_id"),
    ("pixxel", "catalog"): ("id",),
    ("pixxel", "order_item"): ("id",),
    ("scale", "job"): ("id",),
    ("alteryx", "job"): ("id",),
    ("http", "file"): ("id",),
}
"""Watchlist fields that make up an item's ids, in key order, per (provider, kind)."""

_PROVIDERS = frozenset(p.value for p in ProviderName)
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_EXAMPLE = "pixxel:job:WF/JOB"


def kinds_of(provider: str) -> list[str]:
    """The kinds of item `provider` offers, sorted."""
    return sorted(kind for p, kind in ID_FIELDS if p == provider)


def check_id(value: str, *, slashes: bool) -> None:
    """Raise `ValueError` unless `value` can be an id (`slashes`: an http id, may hold "/")."""
    if not value:
        raise ValueError("an id must not be empty")
    # the one printable white-space character is the plain space (as in `check_url`):
    # one pass in C instead of two calls a character, 100,000 ids in a large watchlist
    if " " in value or not value.isprintable():
        raise ValueError(f"id {value!r} contains whitespace or control characters")
    # Ids become directory names in the archive: no way out of the item's own folder.
    segments = value.split("/") if slashes else [value]
    if not slashes and "/" in value:
        raise ValueError(f"id {value!r} must not contain '/'")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValueError(f"id {value!r} has an empty, '.' or '..' path segment")


def check_url(url: str) -> None:
    """Raise `ValueError` unless `url` is an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (reading it checks it: 0-65535, digits only)
    except ValueError as exc:
        raise ValueError(f"url {url!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"url must be an http:// or https:// URL (got {url!r})")
    # the one printable white-space character is the plain space; every other one,
    # and every control character, fails isprintable()
    if " " in url or not url.isprintable():
        raise ValueError("url contains whitespace or control characters")


def check_sha256(digest: str) -> None:
    """Raise `ValueError` unless `digest` is a SHA-256 in lower-case hex."""
    if not _SHA256_RE.fullmatch(digest):
        raise ValueError("sha256 must be 64 lower-case hexadecimal digits")


def default_http_id(url: str) -> str:
    """The id of a plain URL item when none is given: host (and port) plus path.

    `https://bucket.example.org/path/scene.zip?X-Amz-Signature=...` ->
    `bucket.example.org/path/scene.zip`; the query, which holds the signature
    and changes with every fresh URL, is never part of an identity.
    """
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    segments = [s for s in parts.path.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise ValueError(f"url {url!r} has a '..' path segment; give the entry an explicit id")
    return "/".join([host, *segments])


@dataclass(frozen=True, order=True)
class ItemRef:
    """One item, identified by provider, kind and ids.

    Equality, hashing and ordering use only the identity (`provider`, `kind`,
    `ids`): an `http:file` item whose signed URL was refreshed is the same item.
    """

    provider: str
    kind: str
    ids: tuple[str, ...]
    url: str | None = field(default=None, compare=False, repr=False)
    """The signed URL of an `http:file` item; never part of its key nor of its repr."""
    sha256: str | None = field(default=None, compare=False)
    """Expected SHA-256 (lower-case hex) of an `http:file` item, if known."""

    def __post_init__(self) -> None:
        if self.provider not in _PROVIDERS:
            raise ValueError(
                f"unknown provider {self.provider!r} "
                f"(expected one of {', '.join(sorted(ProviderName))})"
            )
        names = ID_FIELDS.get((self.provider, self.kind))
        if names is None:
            raise ValueError(
                f"unknown kind {self.kind!r} for {self.provider} "
                f"(expected one of {', '.join(kinds_of(self.provider))})"
            )
        if len(self.ids) != len(names):
            raise ValueError(
                f"{self.provider}:{self.kind} takes {len(names)} id(s) "
                f"({'/'.join(names)}), got {len(self.ids)}"
            )
        is_http = self.provider == ProviderName.HTTP
        for value in self.ids:
            check_id(value, slashes=is_http)
        if not is_http and (self.url is not None or self.sha256 is not None):
            raise ValueError("only http:file items carry a url or sha256")
        if self.url is not None:
            check_url(self.url)
        if self.sha256 is not None:
            check_sha256(self.sha256)

    @functools.cached_property
    def key(self) -> str:
        """`provider:kind:id[/id...]`, e.g. `pixxel:job:wf-123/job-456`."""
        return f"{self.provider}:{self.kind}:{'/'.join(self.ids)}"

    @property
    def definition(self) -> str | None:
        """A fingerprint of what the watchlist says of the item besides its key (the URL
        and expected digest of an `http:file`), None when there is nothing more.

        A digest, not the URL itself: the state store keeps it, and a signed URL's
        query is a credential.  A new fingerprint under the same key is a new
        definition: the item is worked again from the start (unless archived).
        """
        if self.url is None and self.sha256 is None:
            return None
        text = f"{self.url or ''}\n{self.sha256 or ''}"
        return hashlib.sha256(text.encode()).hexdigest()

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, text: str) -> ItemRef:
        """The item named by a key as written on the command line (inverse of `key`)."""
        provider, sep1, rest = text.partition(":")
        kind, sep2, joined = rest.partition(":")
        if not (sep1 and sep2):
            raise ValueError(f"{text!r} is not an item: write provider:kind:id, e.g. {_EXAMPLE}")
        names = ID_FIELDS.get((provider, kind))
        # http ids may hold "/" themselves; every other kind has a fixed number of ids.
        ids = (joined,) if provider == ProviderName.HTTP or names is None else joined.split("/")
        if names is not None and len(ids) != len(names):
            form = "/".join(n.upper() for n in names)
            raise ValueError(
                f"{text!r}: {provider}:{kind} needs {len(names)} id(s), "
                f"written {provider}:{kind}:{form}"
            )
        try:
            return cls(provider, kind, tuple(ids))
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
