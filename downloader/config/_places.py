"""Whether the places the config names can be what they must be: folders and files.

A FIFO, a device or a plain file where the archive's folder must be made, or
anything but a regular file where the SQLite database is, would stop every run
(or block it); found here, it is a problem with file, line and key instead.
Nothing is created: a place that does not exist yet is judged by the nearest
folder above it that does.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from downloader.config._files import kind_of

__all__ = ["folder_problem", "regular_file_problem"]


def _nearest(path: Path) -> tuple[Path, int] | None:
    """The nearest of `path` and its parents that exists, with its mode."""
    for place in (path, *path.parents):
        try:
            return place, os.stat(place).st_mode
        except (FileNotFoundError, NotADirectoryError):  # a file above it is found next
            continue
        except (OSError, ValueError):  # not allowed to look: the run will say
            return None
    return None


def folder_problem(path: Path) -> str | None:
    """Why no folder can be at (or made at) `path`, or None."""
    found = _nearest(path)
    if found is None:
        return None
    place, mode = found
    if stat.S_ISDIR(mode):
        return None
    what = kind_of(mode) or "a regular file"
    if place == path:
        return f"{path} is {what}, not a folder"
    return f"{path} cannot be made: {place} is {what}, not a folder"


def regular_file_problem(path: Path) -> str | None:
    """Why `path` cannot be (or be made) a regular file, or None."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return folder_problem(path.parent)
    except (OSError, ValueError):
        return None
    what = kind_of(mode)
    return None if what is None else f"{path} is {what}, not a regular file"
