"""The digests of the bytes we got, and the digests a file is supposed to have.

A pure core: bytes in, digests out.  `_digests` reads the digests servers offer;
this module holds what both sides share: the algorithms, `ExpectedDigest` and the
`MultiHasher` that feeds the same bytes to all of them at once.  Nothing here may
import aiohttp, anyio or asyncio or do any I/O.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "crc32", "crc32c")
DIGEST_SIZES: Mapping[str, int] = {
    "sha256": 32,
    "sha512": 64,
    "sha1": 20,
    "md5": 16,
    "crc32": 4,
    "crc32c": 4,
}


def to_hex(value: bytes) -> str:
    """Lower-case hexadecimal, as manifests and logs show digests."""
    return value.hex()


def to_b64(value: bytes) -> str:
    """Standard padded base64, as HTTP headers carry digests."""
    return base64.b64encode(value).decode("ascii")


@dataclass(frozen=True)
class ExpectedDigest:
    """A digest the file is supposed to have, and who said so."""

    algorithm: str
    """One of `ALGORITHMS`."""
    value: bytes
    """Raw digest bytes; crc32 and crc32c are 4 bytes big-endian."""
    source: str
    """Where it came from: a header name ("Repr-Digest", "x-goog-hash", ...) or "caller"."""

    def __post_init__(self) -> None:
        size = DIGEST_SIZES.get(self.algorithm)
        if size is None:
            raise ValueError(f"unknown digest algorithm {self.algorithm!r}")
        if len(self.value) != size:
            raise ValueError(f"{self.algorithm} digest must be {size} bytes, not {len(self.value)}")

    def hex(self) -> str:
        return to_hex(self.value)


class MultiHasher:
    """Feeds the same bytes to several digest algorithms at once (sha256 always)."""

    def __init__(self, algorithms: Iterable[str] = ()) -> None:
        wanted = {"sha256"}
        for algorithm in algorithms:
            if algorithm not in DIGEST_SIZES:
                raise ValueError(f"unknown digest algorithm {algorithm!r}")
            wanted.add(algorithm)
        self._algorithms = frozenset(wanted)
        self._hashes = {
            name: hashlib.new(name, usedforsecurity=False)
            for name in sorted(wanted)
            if not name.startswith("crc")
        }
        self._crc32 = 0 if "crc32" in wanted else None
        self._crc32c = 0 if "crc32c" in wanted else None
        self._size = 0

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def update(self, data: bytes | bytearray | memoryview) -> None:
        for hasher in self._hashes.values():
            hasher.update(data)
        if self._crc32 is not None:
            self._crc32 = zlib.crc32(data, self._crc32)
        if self._crc32c is not None:
            import crc32c  # only when asked: it loads importlib.metadata, 10-40 ms at start-up

            self._crc32c = crc32c.crc32c(data, value=self._crc32c)
        self._size += memoryview(data).nbytes

    def digests(self) -> dict[str, bytes]:
        """Algorithm -> raw digest of everything fed so far (feeding may go on)."""
        result = {name: hasher.digest() for name, hasher in self._hashes.items()}
        if self._crc32 is not None:
            result["crc32"] = self._crc32.to_bytes(4, "big")
        if self._crc32c is not None:
            result["crc32c"] = int(self._crc32c).to_bytes(4, "big")
        return result


def find_mismatch(
    expected: Iterable[ExpectedDigest], actual: Mapping[str, bytes]
) -> ExpectedDigest | None:
    """The first expected digest that we computed and that differs; None if all agree."""
    for digest in expected:
        got = actual.get(digest.algorithm)
        if got is not None and got != digest.value:
            return digest
    return None
