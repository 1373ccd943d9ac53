"""Whether `[transfer] min_free_space` can ever be kept on the archive's filesystem.

Transfers pause while less than `min_free_space` is free.  On a filesystem smaller
than that they would wait forever, so the config is refused instead.  The archive
root need not exist yet: its nearest existing folder stands for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from downloader.config._units import format_size

__all__ = ["filesystem_size", "space_problem"]


def filesystem_size(path: Path) -> int | None:
    """The size in bytes of the filesystem that holds (or would hold) `path`."""
    for folder in (path, *path.parents):
        try:
            st = os.statvfs(folder)
        except FileNotFoundError:
            continue
        except (OSError, ValueError):  # not allowed to look, or no such path at all
            return None
        return st.f_blocks * st.f_frsize
    return None


def space_problem(
    root: Path, min_free_space: int, *, measure: Callable[[Path], int | None] = filesystem_size
) -> str | None:
    """A message when `min_free_space` is more than the whole filesystem of `root`."""
    size = measure(root)
    if size is None or min_free_space <= size:
        return None
    return (
        f"{format_size(min_free_space)} is more than the whole filesystem of the archive "
        f"({root}: {format_size(size)}); transfers would wait for that space forever"
    )
