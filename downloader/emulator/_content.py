"""Deterministic file contents generated from a seed, never stored.

A file of any size is a sequence of 1 MiB blocks; block `k` is a rotation of one
random base block by an amount that depends on `k` and the seed, so every block
differs from its neighbours and a byte written at the wrong offset shows up in
the digest.  Reading is a slice of a doubled base block: fast enough to serve
gigabytes over loopback.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from functools import lru_cache
from typing import Protocol

BLOCK = 1 << 20
_STEP = 7919  # odd, so rotations cycle through all BLOCK offsets


class Content(Protocol):
    """Bytes a file host can serve by range without holding them in memory."""

    @property
    def size(self) -> int: ...

    def iter_range(self, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]: ...

    def digest(self, algorithm: str = "sha256") -> bytes: ...


@lru_cache(maxsize=16)
def _doubled_base(seed: int) -> bytes:
    base = random.Random(seed).randbytes(BLOCK)
    return base + base


class SeededContent:
    """The bytes of a generated file: `size` bytes determined by `seed`."""

    def __init__(self, seed: int, size: int) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.seed = seed
        self.size = size
        self._doubled = memoryview(_doubled_base(seed))

    def _rotation(self, block: int) -> int:
        return (block * _STEP + self.seed * 31) % BLOCK

    def iter_range(self, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        """Yield the bytes `[start, end)` in pieces of at most `chunk` bytes."""
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"range [{start}, {end}) outside 0..{self.size}")
        pos = start
        while pos < end:
            block, within = divmod(pos, BLOCK)
            n = min(chunk, end - pos, BLOCK - within)
            at = self._rotation(block) + within
            yield bytes(self._doubled[at : at + n])
            pos += n

    def read(self, offset: int, length: int) -> bytes:
        """The bytes `[offset, offset + length)`, clipped to the file's end."""
        end = min(self.size, offset + length)
        return b"".join(self.iter_range(offset, end, chunk=BLOCK))

    def digest(self, algorithm: str = "sha256") -> bytes:
        """The whole file's digest under a `hashlib` algorithm name."""
        return _digest(self.seed, self.size, algorithm)

    def hexdigest(self, algorithm: str = "sha256") -> str:
        return self.digest(algorithm).hex()


@lru_cache(maxsize=256)
def _digest(seed: int, size: int, algorithm: str) -> bytes:
    h = hashlib.new(algorithm)
    for piece in SeededContent(seed, size).iter_range(0, size, chunk=BLOCK):
        h.update(piece)
    return h.digest()
