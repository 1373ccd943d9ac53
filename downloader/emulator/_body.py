"""How a response body is spoiled by the injected faults: pure planning, no I/O.

Belongs here: which body bytes are sent, where a pause falls, which byte is
corrupted, whether the connection is cut afterwards, and the per-fault budgets
("only the first N responses").  The HTTP shell in `_files.py` writes what the
plan says; it never decides.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass

from downloader.emulator._content import Content

CHUNK = 256 * 1024


@dataclass(frozen=True)
class BodyPlan:
    """What to write for one response body of the file bytes `[start, start + length)`."""

    start: int
    send: int  # body bytes actually written
    close_after: bool  # cut the connection once they are written
    dropped: bool  # the cut is a `drop_after_bytes` fault (counts against its budget)
    stall_at: int | None  # body offset at which to pause
    stall_seconds: float
    flip_at: int | None  # absolute file offset whose byte is XORed with `flip_mask`
    flip_mask: int = 0xFF


@dataclass(frozen=True)
class Pause:
    """Stop writing for `seconds`."""

    seconds: float


def plan_body(
    start: int,
    length: int,
    *,
    length_delta: int = 0,
    drop_after: int | None = None,
    stall_after: int = 0,
    stall_seconds: float = 0.0,
    flip_at: int | None = None,
    flip_mask: int = 0xFF,
) -> BodyPlan:
    """Plan the body of `length` file bytes from `start` under the given faults.

    `length_delta` is how far the advertised Content-Length is off: when shorter,
    only the advertised bytes are written (what a client can read); when longer,
    the real body is written and the connection is then cut.
    """
    advertised = max(0, length + length_delta)
    send = min(length, advertised)
    close_after = advertised > length
    dropped = drop_after is not None and drop_after < send
    if drop_after is not None and dropped:
        send = drop_after
        close_after = True
    stall_at = stall_after if stall_seconds > 0 and 0 <= stall_after <= send else None
    flip = flip_at if flip_at is not None and start <= flip_at < start + send else None
    return BodyPlan(
        start=start,
        send=send,
        close_after=close_after,
        dropped=dropped,
        stall_at=stall_at,
        stall_seconds=stall_seconds if stall_at is not None else 0.0,
        flip_at=flip,
        flip_mask=flip_mask,
    )


def iter_body(content: Content, plan: BodyPlan, chunk: int = CHUNK) -> Iterator[bytes | Pause]:
    """The pieces to write for `plan`, with the pause in its place and the flip applied."""
    edges = [0, plan.send]
    if plan.stall_at is not None:
        edges.insert(1, plan.stall_at)
    for index in range(len(edges) - 1):
        if index == 1:
            yield Pause(plan.stall_seconds)
        low, high = plan.start + edges[index], plan.start + edges[index + 1]
        position = low
        for piece in content.iter_range(low, high, chunk):
            yield _flipped(piece, position, plan.flip_at, plan.flip_mask)
            position += len(piece)


def _flipped(piece: bytes, position: int, flip_at: int | None, mask: int) -> bytes:
    if flip_at is None or not position <= flip_at < position + len(piece):
        return piece
    spoiled = bytearray(piece)
    spoiled[flip_at - position] ^= mask
    return bytes(spoiled)


class Budget:
    """How many more responses one counted fault may spoil.

    The count starts again whenever the fault's knobs change, so a test that
    re-arms a fault between requests gets exactly what it asked for.
    """

    def __init__(self) -> None:
        self._knobs: Hashable = None
        self._used = 0

    def allows(self, knobs: Hashable, times: int) -> bool:
        """Whether the fault set by `knobs` (which include `times`) may fire again."""
        if knobs != self._knobs:
            self._knobs = knobs
            self._used = 0
        return times < 0 or self._used < times

    def charge(self) -> None:
        self._used += 1
