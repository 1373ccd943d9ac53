"""Every digest a server offers for a file (the digests of the bytes we got: `_hashers`).

A pure core: header values in, `ExpectedDigest` values out.
Nothing here may import aiohttp, anyio or asyncio or do any I/O.  Headers are
untrusted, so an unreadable value is reported as a problem and never raised: one
garbled header must not stop a download that other digests can still verify.

Which headers describe the whole file and which only the bytes of this response
matters for ranged and resumed transfers: `Content-MD5` and `Content-Digest` are
about the response body, so they only count when that body is the complete file
(`whole_body=True`).  `Digest`, `Repr-Digest`, `x-goog-hash` and
`x-amz-checksum-*` describe the stored object and count for any response.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping

from downloader.transfer._hashers import (
    ALGORITHMS,
    DIGEST_SIZES,
    ExpectedDigest,
    MultiHasher,
    find_mismatch,
    to_b64,
    to_hex,
)

__all__ = [
    "ALGORITHMS",
    "DIGEST_SIZES",
    "ExpectedDigest",
    "MultiHasher",
    "find_mismatch",
    "normalize_algorithm",
    "parse_caller_digest",
    "parse_digest_headers",
    "parse_digest_headers_with_problems",
    "to_b64",
    "to_hex",
]

# Spellings seen in the wild, after lower-casing and dropping "-" and "_".
_ALIASES = {
    "sha256": "sha256",
    "sha512": "sha512",
    "sha1": "sha1",
    "sha": "sha1",  # RFC 3230's name for SHA-1
    "md5": "md5",
    "crc32": "crc32",
    "crc32c": "crc32c",
}
_HEX = re.compile(r"[0-9A-Fa-f]+")
_MULTIPART_SUFFIX = re.compile(r"-\d+$")
_AMZ_PREFIX = "x-amz-checksum-"


def normalize_algorithm(name: str) -> str | None:
    """One of `ALGORITHMS` for a spelling such as "SHA-256", "sha" or "crc32c"; else None."""
    return _ALIASES.get(name.strip().lower().replace("-", "").replace("_", ""))


def _b64decode(text: str) -> bytes | None:
    text = text.strip()
    # Some servers drop the padding; restore it rather than refuse the digest.
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Collector:
    """Accumulates digests and problems in header order, without exact repeats."""

    def __init__(self) -> None:
        self.digests: list[ExpectedDigest] = []
        self.problems: list[str] = []

    def add_b64(self, source: str, algorithm: str, text: str) -> None:
        raw = _b64decode(text)
        if raw is None:
            self.problems.append(f"{source}: {algorithm} value {_shorten(text)!r} is not base64")
            return
        size = DIGEST_SIZES[algorithm]
        if len(raw) != size:
            self.problems.append(
                f"{source}: {algorithm} value is {len(raw)} bytes, expected {size}"
            )
            return
        digest = ExpectedDigest(algorithm, raw, source)
        if digest not in self.digests:
            self.digests.append(digest)


def _members(value: str) -> Iterable[tuple[str, str]]:
    """`name=value` pairs of a comma-separated list (base64 never contains a comma)."""
    for member in value.split(","):
        name, sep, rest = member.partition("=")
        if sep and name.strip():
            yield name.strip(), rest.strip()


def _content_md5(out: _Collector, value: str) -> None:
    out.add_b64("Content-MD5", "md5", value)


def _legacy_digest(out: _Collector, value: str) -> None:
    for name, text in _members(value):
        algorithm = normalize_algorithm(name)
        if algorithm is not None:  # UNIXsum, ADLER32, ...: nothing we can check
            out.add_b64("Digest", algorithm, text)


def _structured_digest(source: str) -> Callable[[_Collector, str], None]:
    def parse(out: _Collector, value: str) -> None:
        for name, text in _members(value):
            algorithm = normalize_algorithm(name)
            if algorithm is None:
                continue
            # An sf-binary is `:base64:`, possibly followed by `;parameters`.
            item = text.split(";", 1)[0].strip()
            if len(item) < 2 or item[0] != ":" or item[-1] != ":":
                out.problems.append(
                    f"{source}: {algorithm} value {_shorten(text)!r} is not a byte sequence"
                )
                continue
            out.add_b64(source, algorithm, item[1:-1])

    return parse


def _goog_hash(out: _Collector, value: str) -> None:
    for name, text in _members(value):
        algorithm = normalize_algorithm(name)
        if algorithm in ("crc32c", "md5"):
            out.add_b64("x-goog-hash", algorithm, text)


_WHOLE_FILE_PARSERS: Mapping[str, Callable[[_Collector, str], None]] = {
    "digest": _legacy_digest,
    "repr-digest": _structured_digest("Repr-Digest"),
    "x-goog-hash": _goog_hash,
}
_BODY_PARSERS: Mapping[str, Callable[[_Collector, str], None]] = {
    "content-md5": _content_md5,
    "content-digest": _structured_digest("Content-Digest"),
}
_AMZ_ALGORITHMS = frozenset({"sha256", "sha1", "crc32", "crc32c"})


def _pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    if isinstance(headers, Mapping):
        # A multidict's items() yields every repeated header line, a dict's yields one.
        return headers.items()
    return headers


def parse_digest_headers_with_problems(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], *, whole_body: bool
) -> tuple[list[ExpectedDigest], list[str]]:
    """Every digest the response headers promise, and a note on each unreadable one.

    `headers` is a mapping or (name, value) pairs with repeats allowed; names are
    case-insensitive.  `whole_body` says whether this response's body is the complete
    file; when it is not, body digests (Content-MD5, Content-Digest) are ignored.
    S3 multipart checksums (`value-N`, or `x-amz-checksum-type: COMPOSITE`) are
    checksums of part checksums and are skipped.
    """
    pairs = [(name.strip().lower(), value) for name, value in _pairs(headers)]
    composite = any(
        name == "x-amz-checksum-type" and value.strip().upper() == "COMPOSITE"
        for name, value in pairs
    )
    out = _Collector()
    for name, value in pairs:
        parser = _WHOLE_FILE_PARSERS.get(name)
        if parser is None and whole_body:
            parser = _BODY_PARSERS.get(name)
        if parser is not None:
            parser(out, value)
        elif name.startswith(_AMZ_PREFIX):
            algorithm = name[len(_AMZ_PREFIX) :]
            text = value.strip()
            multipart = composite or _MULTIPART_SUFFIX.search(text) is not None
            if algorithm in _AMZ_ALGORITHMS and not multipart:
                out.add_b64(name, algorithm, text)
    return out.digests, out.problems


def parse_digest_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], *, whole_body: bool
) -> list[ExpectedDigest]:
    """Every digest the response headers promise; unreadable values are left out."""
    return parse_digest_headers_with_problems(headers, whole_body=whole_body)[0]


def parse_caller_digest(algorithm: str, value: str) -> ExpectedDigest:
    """A digest given in config or by a provider's API, as hex or base64.

    Raises ValueError for an unknown algorithm or a value that is neither the hex nor
    the base64 form of a digest of the right length.
    """
    name = normalize_algorithm(algorithm)
    if name is None:
        raise ValueError(f"unknown digest algorithm {algorithm!r}")
    size = DIGEST_SIZES[name]
    text = value.strip()
    if len(text) == 2 * size and _HEX.fullmatch(text):
        return ExpectedDigest(name, bytes.fromhex(text), "caller")
    for candidate in (text, text.replace("-", "+").replace("_", "/")):
        raw = _b64decode(candidate)
        if raw is not None and len(raw) == size:
            return ExpectedDigest(name, raw, "caller")
    raise ValueError(f"{_shorten(value)!r} is not a {name} digest in hex or base64")
