"""Integrity headers for generated content, spelled the way real services send them.

Values are base64 of the raw digest (CRCs as 4 big-endian bytes), as S3, GCS and
the RFC 3230 / RFC 9530 digest fields do.  Several kinds that share a header
(`Digest`, `Repr-Digest`) are joined into one field value.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterable
from functools import lru_cache

import crc32c

from downloader.emulator._content import BLOCK, SeededContent

KINDS = (
    "content-md5",
    "digest-sha256",
    "digest-sha512",
    "digest-md5",
    "repr-digest-sha256",
    "repr-digest-sha512",
    "x-goog-hash",
    "x-amz-checksum-sha256",
    "x-amz-checksum-sha1",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@lru_cache(maxsize=256)
def _crc32(seed: int, size: int) -> bytes:
    value = 0
    for piece in SeededContent(seed, size).iter_range(0, size, chunk=BLOCK):
        value = zlib.crc32(piece, value)
    return value.to_bytes(4, "big")


@lru_cache(maxsize=256)
def _crc32c(seed: int, size: int) -> bytes:
    hasher = crc32c.CRC32CHash()
    for piece in SeededContent(seed, size).iter_range(0, size, chunk=BLOCK):
        hasher.update(piece)
    raw: bytes = hasher.digest()
    return raw


def _raw(content: SeededContent, algorithm: str) -> bytes:
    if algorithm == "crc32":
        return _crc32(content.seed, content.size)
    if algorithm == "crc32c":
        return _crc32c(content.seed, content.size)
    return content.digest(algorithm)


# kind -> (header, how one item of that header is written from the content)
_ITEMS: dict[str, tuple[str, Callable[[SeededContent], str]]] = {
    "content-md5": ("Content-MD5", lambda c: _b64(_raw(c, "md5"))),
    "digest-sha256": ("Digest", lambda c: "sha-256=" + _b64(_raw(c, "sha256"))),
    "digest-sha512": ("Digest", lambda c: "sha-512=" + _b64(_raw(c, "sha512"))),
    "digest-md5": ("Digest", lambda c: "md5=" + _b64(_raw(c, "md5"))),
    "repr-digest-sha256": ("Repr-Digest", lambda c: f"sha-256=:{_b64(_raw(c, 'sha256'))}:"),
    "repr-digest-sha512": ("Repr-Digest", lambda c: f"sha-512=:{_b64(_raw(c, 'sha512'))}:"),
    "x-goog-hash": (
        "x-goog-hash",
        lambda c: f"crc32c={_b64(_raw(c, 'crc32c'))},md5={_b64(_raw(c, 'md5'))}",
    ),
    "x-amz-checksum-sha256": ("x-amz-checksum-sha256", lambda c: _b64(_raw(c, "sha256"))),
    "x-amz-checksum-sha1": ("x-amz-checksum-sha1", lambda c: _b64(_raw(c, "sha1"))),
    "x-amz-checksum-crc32": ("x-amz-checksum-crc32", lambda c: _b64(_raw(c, "crc32"))),
    "x-amz-checksum-crc32c": ("x-amz-checksum-crc32c", lambda c: _b64(_raw(c, "crc32c"))),
}


def digest_headers_for(content: SeededContent, kinds: Iterable[str]) -> dict[str, str]:
    """Correct integrity headers for the whole of `content`, one entry per header name.

    `kinds` are names from `KINDS`; an unknown kind is a `ValueError`.
    """
    headers: dict[str, str] = {}
    for kind in kinds:
        if kind not in _ITEMS:
            raise ValueError(f"unknown digest kind {kind!r}; known: {', '.join(KINDS)}")
        name, item = _ITEMS[kind]
        separator = ", " if name == "Repr-Digest" else ","
        value = item(content)
        headers[name] = f"{headers[name]}{separator}{value}" if name in headers else value
    return headers
