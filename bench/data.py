"""The benchmark data: random files generated once into `bench/data/` (gitignored).

Each file's SHA-256 is computed while it is written and kept in `manifest.json`,
so later runs reuse the files and only check their sizes.  `warm()` reads files
into the page cache so that every tool starts from the same warm cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable
from pathlib import Path

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
BLOCK = 8 * MiB


class DataSet:
    """`bench/data/<name>` files with known digests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._manifest_path = root / "manifest.json"
        self.digests: dict[str, str] = {}
        if self._manifest_path.exists():
            self.digests = json.loads(self._manifest_path.read_text())

    def ensure(self, name: str, size: int, seed: int) -> str:
        """Make sure `name` exists with `size` random bytes; returns its SHA-256."""
        path = self.root / name
        known = self.digests.get(name)
        if known is not None and path.exists() and path.stat().st_size == size:
            return known
        path.parent.mkdir(parents=True, exist_ok=True)
        base = random.Random(seed).randbytes(min(BLOCK, size))
        h = hashlib.sha256()
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            left, index = size, 0
            while left:
                # a seeded random block, rotated by a different offset each time:
                # fast to make, and no two blocks of a file alike
                turn = (index * 1_000_003) % len(base)
                block = (base[turn:] + base[:turn])[: min(BLOCK, left)]
                index += 1
                h.update(block)
                f.write(block)
                left -= len(block)
        tmp.replace(path)
        self.digests[name] = h.hexdigest()
        return self.digests[name]

    def link(self, name: str, source: str) -> str:
        """`name` as a hard link of `source` (same bytes, no extra disk or cache)."""
        path, target = self.root / name, self.root / source
        if not (path.exists() and os.path.samefile(path, target)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            os.link(target, path)
        self.digests[name] = self.digests[source]
        return self.digests[name]

    def save(self) -> None:
        """Write the manifest (after `ensure` and `link` calls, or none: `--only W6b`)."""
        tmp = self._manifest_path.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(self.digests, indent=0, sort_keys=True))
        tmp.replace(self._manifest_path)

    def warm(self, names: Iterable[str]) -> None:
        """Read the files so they sit in the page cache for every tool alike."""
        for name in names:
            fd = os.open(self.root / name, os.O_RDONLY)
            try:
                while os.read(fd, BLOCK):
                    pass
            finally:
                os.close(fd)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    return h.hexdigest()
