"""Value parsers for config keys: one TOML value in, one typed value out.

Each parser takes the raw value and a `Context` (the config file's directory,
the environment, a list to add warnings to) and raises `ValueError` with a
message meant for a person.  The loader adds the file, line and key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from downloader.config._files import check_path_text, expand_path
from downloader.config._secrets import Secret, load_secret
from downloader.config._toml import type_name
from downloader.config._units import format_duration, parse_duration, parse_size

__all__ = [
    "Context",
    "Parser",
    "boolean",
    "choice",
    "duration",
    "http_url",
    "integer",
    "name",
    "path",
    "secret",
    "size",
    "state_url",
    "text",
]


@dataclass
class Context:
    """What parsers may look at besides the value itself."""

    base_dir: Path
    environ: Mapping[str, str]
    warnings: list[str] = field(default_factory=list)
    resolve_secrets: bool = True
    """False: secrets are checked for their form only, never read (see `load_secret`)."""


Parser = Callable[[object, Context], object]


def _expected(what: str, value: object) -> ValueError:
    return ValueError(f"expected {what}, got {type_name(value)}")


def boolean(value: object, ctx: Context) -> bool:
    if not isinstance(value, bool):
        raise _expected("true or false", value)
    return value


def integer(minimum: int, maximum: int) -> Parser:
    """A whole number from `minimum` to `maximum`: every count the program acts on is bounded."""

    def parse(value: object, ctx: Context) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _expected("an integer", value)
        if value < minimum:
            raise ValueError(f"must be at least {minimum} (got {value})")
        if value > maximum:
            raise ValueError(f"must be at most {maximum} (got {value})")
        return value

    return parse


def size(value: object, ctx: Context) -> int:
    """Bytes, written `"64MiB"` or as a plain integer."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _expected('a size such as "64MiB"', value)
    return parse_size(value)


LONGEST = 100 * 365 * 86400.0
"""The longest duration a key takes (100 years): any time the program adds it to stays
within what a date and a 64-bit count of microseconds can hold."""


def duration(*, positive: bool = True, minimum: float = 0.0) -> Parser:
    """Seconds, written `"30s"`, `"5m"`, `"1h30m"` or as a plain number of seconds."""

    def parse(value: object, ctx: Context) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _expected('a duration such as "30s"', value)
        seconds = parse_duration(value)
        if positive and seconds <= 0:
            raise ValueError("must be longer than zero")
        if seconds < minimum:
            raise ValueError(f"must be at least {format_duration(minimum)} (got {value!r})")
        if seconds > LONGEST:
            raise ValueError(f"must be at most {format_duration(LONGEST)} (got {value!r})")
        return seconds

    return parse


def text(value: object, ctx: Context) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise _expected("a string", value)
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def text_list(value: object, ctx: Context) -> tuple[str, ...]:
    """A non-empty list of non-empty strings."""
    if not isinstance(value, list):
        raise _expected('a list of strings such as ["Success"]', value)
    if not value:
        raise ValueError("must name at least one")
    return tuple(text(entry, ctx) for entry in value)


def name(value: object, ctx: Context) -> str:
    """A non-empty string without whitespace or control characters."""
    result = text(value, ctx)
    if any(ch.isspace() or not ch.isprintable() for ch in result):
        raise ValueError("must not contain whitespace or control characters")
    return result


def choice(*allowed: str) -> Parser:
    """One of a fixed set of strings."""

    def parse(value: object, ctx: Context) -> str:
        if not isinstance(value, str):
            raise _expected("a string", value)
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(repr, allowed))} (got {value!r})")
        return value

    return parse


def path(value: object, ctx: Context) -> Path:
    """A filesystem path; relative ones are taken from the config file's directory."""
    return ctx.base_dir / expand_path(text(value, ctx))


def _port(url: str) -> None:
    try:
        urlsplit(url).port  # noqa: B018  (reading it is the check)
    except ValueError as exc:
        raise ValueError(f"{url!r} has an invalid port: {exc}") from None


def http_url(value: object, ctx: Context) -> str:
    """An absolute http(s) URL, without a trailing slash."""
    url = text(value, ctx).strip()
    if not url.isprintable() or " " in url:
        raise ValueError("must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"must be an http:// or https:// URL (got {url!r})")
    _port(url)
    return url.rstrip("/")


def state_url(value: object, ctx: Context) -> str:
    """`sqlite:///PATH` (relative to the config file) or `postgresql://...`."""
    url = text(value, ctx).strip()
    check_path_text(url)
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "sqlite":
        if not rest.startswith("/") or len(rest) < 2:
            raise ValueError("write sqlite:////absolute/path.db or sqlite:///relative/path.db")
        return f"sqlite:///{ctx.base_dir / rest[1:]}"
    if sep and scheme in ("postgresql", "postgres"):
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        _port(url)
        if parts.password:
            ctx.warnings.append(
                "state.url contains a password; prefer a ~/.pgpass file or PGPASSFILE"
            )
        return url
    raise ValueError(f"must start with sqlite:/// or postgresql:// (got {scheme or url!r})")


def secret(value: object, ctx: Context) -> Secret:
    """`{ env = "NAME" }` or `{ file = "PATH" }`; never the secret itself."""
    source = load_secret(
        value, base_dir=ctx.base_dir, environ=ctx.environ, resolve=ctx.resolve_secrets
    )
    ctx.warnings.extend(source.warnings)
    return source.secret


def listen_address(value: object, ctx: Context) -> tuple[str, int]:
    """`host:port` to listen on (`[::1]:9464` for an IPv6 address)."""
    address = text(value, ctx).strip()
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be host:port, e.g. 127.0.0.1:9464 (got {address!r})")
    return host, int(port)
