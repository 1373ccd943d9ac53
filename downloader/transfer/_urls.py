"""URLs as they may appear in logs and errors: never with their signature."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def redact_url(url: str) -> str:
    """Drop the query, fragment and any user info: what signs a URL is a credential.

    Never raises: a URL that cannot be parsed is replaced by a placeholder.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.netloc.rpartition("@")[2].lower()  # keeps IPv6 brackets and the port
    redacted = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return redacted + ("?…" if parts.query else "")


def host_key(url: str) -> str:
    """What the per-host connection limit counts by: scheme, host and effective port."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return redact_url(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}:{port or ''}"


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and effective port: where credentials may go.

    A redirect to another origin gets no credential of the first (as curl does):
    a bearer token meant for the platform's API is not the business of a CDN.
    """
    return host_key(a) == host_key(b)
