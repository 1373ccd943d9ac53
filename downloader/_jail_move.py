"""A rename between two folders of the jail that moves only what was looked at."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

__all__ = ["move_checked"]


def move_checked(
    source: tuple[int, str],
    target: tuple[int, str],
    *,
    replace: bool,
    refuse: Callable[[], Exception],
    target_name: str,
) -> None:
    """Rename `source` (folder descriptor, name) to `target`; the source must be a real
    file or folder, never a link (`refuse()` is raised); without `replace` an entry at
    the target is refused with `FileExistsError` naming `target_name`."""
    (src_dir, src_name), (dst_dir, dst_name) = source, target
    before = os.stat(src_name, dir_fd=src_dir, follow_symlinks=False)
    if not (stat.S_ISREG(before.st_mode) or stat.S_ISDIR(before.st_mode)):
        raise refuse()
    if not replace:
        try:
            os.stat(dst_name, dir_fd=dst_dir, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            raise FileExistsError(errno.EEXIST, "already there", target_name)
    os.rename(src_name, dst_name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
    # what arrived must be what was looked at: a swap between the look and the move
    # would have put something else (a link) in the archive
    after = os.stat(dst_name, dir_fd=dst_dir, follow_symlinks=False)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.rename(dst_name, src_name, src_dir_fd=dst_dir, dst_dir_fd=src_dir)
        raise refuse()
