"""How many of a split file's pieces run at once: one stream first, all lanes when it is slow.

A split file's pieces are fetched in file order, `Limits.segments` at most at once.
Several streams pay only where one connection is held below what the path could
carry (a server's per-connection throttle, a long fat pipe): there, the more lanes
the more bytes.  Where one stream is fast already (a near host, loopback), more
lanes add nothing to the rate, and cost much: the pieces beyond the first land away
from the hashed prefix, and each is read back from disk to be hashed (with
`O_DIRECT`, from the device itself).  So a file starts on one lane and opens all of
them the first time a window of its stream's rate falls below `SPLIT_BELOW`, as
aria2c and rclone split a download only when it is slow.  Lanes are never closed
again: a stream slowed by the lanes' own load would otherwise flap.

A stream that waited for a free ring buffer in a window was held by the writer or the
hasher, not by the network: such a window opens nothing.  A pure core: the shell
(`_record.widen`) samples the bytes on disk and the ring's misses every `WINDOW`
seconds and asks `lanes_wanted`.
"""

from __future__ import annotations

from downloader.transfer._policy import MiB

SPLIT_BELOW = 128 * MiB
"""Bytes a second under which one stream is held slow (a W2-like throttle of 25 MB/s a
connection is far below; loopback and near hosts, at several hundred, far above)."""
WINDOW = 0.1
"""Seconds between two looks at the rate: short, as a throttled file loses the other
lanes' bytes while it waits, and long enough for a stream to be under way."""


def first_lanes(most: int) -> int:
    """Lanes a file starts with: one, whatever `most` (`Limits.segments`) allows."""
    return min(1, most)


def lanes_wanted(
    lanes: int, most: int, window_bytes: int, window_seconds: float, *, held: bool = False
) -> int:
    """Lanes after a window in which `window_bytes` landed in `window_seconds`.

    A window too short to judge keeps the lanes as they are, and so does one in which
    the stream was `held` waiting for a free buffer: the writer or the hasher set its
    pace (a loaded machine, a slow disk), and more streams would only wait with it. A
    slow window opens all `most`; lanes already open stay open."""
    if lanes >= most or held or window_seconds < WINDOW / 2:
        return lanes
    if window_bytes / window_seconds < SPLIT_BELOW:
        return most
    return lanes
