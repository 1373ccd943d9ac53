"""The data path of a small file: the same buffers, written and hashed on the caller's
thread as they are handed over, without threads of its own.

For a file of a few hundred KiB, starting a writer and a hasher thread costs more
than writing and hashing it: 800 files of 64 KiB took 3.6 to 4.8 s with them against
2.2 s written on the loop (a positional write of at most `INLINE_HASH` bytes into the
page cache takes microseconds).  It takes `DataPath`'s place in `_flow`, with the
same contract: `on_written` once a buffer is in the file, `on_full` and `resume` for a
full disk, `error` for a write that failed.
"""

from __future__ import annotations

from downloader.transfer._datapath import PathEnds
from downloader.transfer._ring import Buffer
from downloader.transfer._space import is_disk_full


class InlinePath(PathEnds):
    """Writes, hashes and gives back each buffer as it is submitted."""

    def _start(self) -> None:
        self._held: list[Buffer] = []  # waiting for room on a full disk, in order

    def submit(self, buffer: Buffer) -> None:
        if buffer.length == 0 or self.error is not None:
            self.ring.give_back(buffer)
            return
        self._held.append(buffer)
        if len(self._held) == 1:
            self._write_held()

    def resume(self) -> None:
        """Write what a full disk held back (once there is room)."""
        self._write_held()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return not self._held or self.error is not None

    def close(self) -> None:
        if self._held and self.error is None:
            self.error = OSError("a full disk held the last bytes back")
        for buffer in self._held:
            self.ring.give_back(buffer)
        self._held.clear()
        self.sink.close()

    def _write_held(self) -> None:
        while self._held:
            buffer = self._held[0]
            try:
                self.sink.write(buffer.filled, buffer.offset)
            except OSError as exc:
                error = exc.with_traceback(None)  # its frames hold views of the buffer
                if self.on_full is not None and is_disk_full(error):
                    self.on_full(buffer.offset, error)
                    return
                self.error = error
                self.on_written(buffer.offset, -1, buffer.owner)
                for held in self._held:
                    self.ring.give_back(held)
                self._held.clear()
                return
            self._held.pop(0)
            self.prefix.feed(buffer.offset, [buffer.filled])
            self.on_written(buffer.offset, buffer.length, buffer.owner)
            self.ring.give_back(buffer)
