"""Whether a body goes through a proxy: the standard variables, read as aiohttp reads
them for API calls (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, lower case too).

A body no proxy stands in front of goes through the engine's own receiver; one that
has a proxy goes through aiohttp, which tunnels HTTPS with CONNECT.  Pure: the
variables are handed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit
from urllib.request import getproxies_environment

__all__ = ["env_proxies", "proxy_for", "receivable"]


def receivable(url: str, proxies: Mapping[str, str]) -> bool:
    """Whether the engine's receiver takes `url`: no proxy in front of it, and a host
    and port a connection can be made to.  Any other goes to aiohttp, which also
    refuses, at the boundary where its errors are translated, a URL it cannot use."""
    try:
        parts = urlsplit(url)
        ok = bool(parts.hostname) and parts.scheme.lower() in ("http", "https")
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        return False
    return ok and proxy_for(url, proxies) is None


def proxy_for(url: str, proxies: Mapping[str, str]) -> str | None:
    """The proxy `url` is fetched through, as `proxies` (scheme to proxy, "no" for the
    hosts reached directly) say; None for a direct connection."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # no URL a connection can be made to: the caller refuses it
        return None
    proxy = proxies.get(parts.scheme.lower())
    if not proxy or bypassed(host, parts.port, proxies.get("no", "")):
        return None
    return proxy


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether `NO_PROXY` (`no_proxy`, comma-separated) names `host`: `*`, the host
    itself (with or without its port), or a domain it lies in (`example.org` and
    `.example.org` both cover `a.example.org`)."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        name = entry.lstrip(".")
        if name.startswith("[") or name.count(":") > 1:  # an IPv6 address, maybe with port
            name = name.partition("]")[0].strip("[")
        elif ":" in name:
            name, _, wanted = name.partition(":")
            if port is not None and wanted != str(port):
                continue
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def env_proxies() -> dict[str, str]:
    """The proxies the environment names now (read each time: it may change)."""
    return getproxies_environment()
