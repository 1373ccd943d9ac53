"""URLs as they may appear in logs and errors: never with their signature."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """Drop the query, fragment and any user info: what signs a URL is a credential."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    redacted = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return redacted + ("?…" if parts.query else "")


def host_key(url: str) -> str:
    """What the per-host connection limit counts by."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"
