"""An SQLite state database opened on a thread of its own while the program starts.

Opening checks the file (`quick_check`), switches a new one to WAL mode and migrates
it: a new file costs several fsyncs, a large one a read of all its pages.  `once`
and `run` begin it as soon as the config is read (`open_early`), so it runs beside
the imports of the runners, which take the main thread for a tenth of a second or
more; the store takes the connection when it opens (`take_early`), or opens its own
when none was begun for its file.
"""

from __future__ import annotations

import sqlite3
import threading

from downloader.store._sqlite_open import MEMORY, connect

__all__ = ["open_early", "take_early"]

_begun: dict[str, _Opening] = {}
_lock = threading.Lock()


class _Opening:
    """One `connect` running on its thread; what it gave, once it is done."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._connect, args=(path,), name=f"open {path}", daemon=True
        )
        self._thread.start()

    def _connect(self, path: str) -> None:
        try:
            self._conn = connect(path, busy_timeout=self.busy_timeout)
        except BaseException as exc:  # handed to whoever takes the connection
            self._error = exc

    def result(self) -> sqlite3.Connection:
        """The connection, once opened; raises what opening raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._conn is not None
        return self._conn


def open_early(path: str, *, busy_timeout: float) -> None:
    """Begin opening the state database at `path` (a file, not `MEMORY`) now."""
    if path == MEMORY:  # a private database: the store's own connection is the only one
        return
    with _lock:
        if path not in _begun:
            _begun[path] = _Opening(path, busy_timeout)


def take_early(path: str, *, busy_timeout: float) -> sqlite3.Connection | None:
    """The connection `open_early` began for `path` with the same `busy_timeout`
    (waiting for it), handed out once; None when none was begun."""
    with _lock:
        opening = _begun.get(path)
        if opening is None or opening.busy_timeout != busy_timeout:
            return None
        del _begun[path]
    return opening.result()
