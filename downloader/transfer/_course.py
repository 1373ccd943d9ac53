"""The course of a whole transfer: the decisions above its streams, a sans-IO core.

`_life.StreamLife` runs one stream; this module decides what spans them all:
- the plan the probe's answer makes (`plan_transfer`): segments, whether cursors are
  worth saving, whether the file is small enough to hash on the loop;
- when written bytes call for a save of the cursors or a sync and a checkpoint
  (`Recorder`), from bytes and time since the last of each;
- how often a refused signed URL may be renewed without a byte in between
  (`Course.may_renew`);
- what a stream's end of the transfer leads to (`Course.after`): a restart from zero
  (counted, `ObjectChanged` past `RetryPolicy.restarts`), a whole-file refetch after
  a failed verification (counted, the failure itself past `verify_attempts`), or the
  end, and whether the work files are kept for a later resume (`Course.keeps_files`);
- whether the bytes are the file (`verify`): sizes told, bytes hashed, every digest.

This module imports no network, event-loop, database or file-system code.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from downloader.errors import (
    DigestMismatch,
    EncodedBody,
    ErrorBody,
    ObjectChanged,
    SizeMismatch,
    TransferError,
    URLExpired,
    VerificationError,
)
from downloader.transfer._hashers import to_hex
from downloader.transfer._plan import Judgement, Segment, plan_segments
from downloader.transfer._policy import Limits, MiB, RetryPolicy

CHECKPOINT_EVERY = 8 * MiB  # fdatasync and record durable cursors this often...
SAVE_EVERY = 2 * MiB  # ...and save the written cursors (no sync) this often
SAVE_INTERVAL = 0.05
INLINE_HASH = 256 * 1024  # files this small are hashed on the loop, not in a worker thread


@dataclass(frozen=True)
class Plan:
    total: int | None
    validator: str | None
    ranges_supported: bool
    segments: list[Segment]

    @property
    def keeps_checkpoint(self) -> bool:
        """Whether cursors are worth saving: not for a file smaller than `SAVE_EVERY`,
        which a restart fetches again at less cost than saving its cursors."""
        return self.total is None or self.total >= SAVE_EVERY

    @property
    def fits_in_memory(self) -> bool:
        """Whether a fresh body is held whole in memory until verified (`HeldFile`): a
        file that keeps no checkpoint, whose bytes no restart could use on disk."""
        return self.total is not None and not self.keeps_checkpoint

    @property
    def is_small(self) -> bool:
        """At most `INLINE_HASH` bytes: hashed on the loop, its cursors unsaved."""
        return self.total is not None and self.total <= INLINE_HASH

    @property
    def save_every(self) -> int:
        """`SAVE_EVERY`, or 1/256 of a large file: a fast stream is saved every
        `SAVE_INTERVAL` anyway, and a large file is not saved hundreds of times."""
        return max(SAVE_EVERY, (self.total or 0) // 256)


def plan_transfer(probe: Judgement, limits: Limits) -> Plan:
    """The plan the first answer (a `WRITE` judgement for `bytes=0-`) makes."""
    segments = plan_segments(probe.total, limits, ranges_supported=probe.ranges_supported)
    return Plan(probe.total, probe.validator, probe.ranges_supported, segments)


def room_needed(total: int | None, segments: Iterable[Segment]) -> int | None:
    """Bytes the file still needs on disk (None when its size is not known)."""
    if total is None:
        return None
    return max(0, total - sum(segment.pos - segment.start for segment in segments))


def is_whole_body(judgement: Judgement, total: int | None) -> bool:
    """Whether an answer's body is the whole file, so its body digests (Content-MD5,
    Content-Digest) describe the file."""
    return judgement.offset == 0 and judgement.length == total


def needs_follower(segments: list[Segment]) -> bool:
    """Whether bytes land that no write hands to the hasher as it lands (a later
    segment, a resumed prefix), so a follower must read them back from disk."""
    return len(segments) > 1 or segments[0].pos > segments[0].start


class Record(enum.StrEnum):
    SYNC = "sync"  # fdatasync, then save the cursors as durable
    SAVE = "save"  # save the written cursors, no sync


@dataclass
class Recorder:
    """When written bytes call for a checkpoint (with a sync) or a save (without)."""

    save_every: int
    checkpoint_every: int = CHECKPOINT_EVERY
    checkpoint_interval: float = 0.5
    checkpointed_at: float = 0.0
    saved_at: float = 0.0
    since_checkpoint: int = 0
    since_save: int = 0

    def wrote(self, length: int, now: float) -> Record | None:
        self.since_checkpoint += length
        self.since_save += length
        if (
            self.since_checkpoint >= self.checkpoint_every
            or now - self.checkpointed_at >= self.checkpoint_interval
        ):
            return Record.SYNC
        if self.since_save >= self.save_every or now - self.saved_at >= SAVE_INTERVAL:
            return Record.SAVE
        return None

    def synced(self, now: float) -> None:
        """A checkpoint: synced, then saved."""
        self.since_checkpoint = 0
        self.checkpointed_at = now
        self.saved(now)

    def saved(self, now: float) -> None:
        self.since_save = 0
        self.saved_at = now


class Next(enum.StrEnum):
    START_OVER = "start over"  # discard the work files, probe again
    REFETCH = "refetch"  # the same, after a failed verification: tell the caller
    END = "end"  # raise the error


@dataclass
class Course:
    """A transfer's counts across restarts and refetches."""

    policy: RetryPolicy
    restarts: int = 0
    verify_failures: int = 0
    renewals_without_progress: int = 0
    refetches: list[str] = field(default_factory=list)

    def may_renew(self) -> bool:
        """Asked when a fresh URL is really about to be fetched."""
        self.renewals_without_progress += 1
        return self.renewals_without_progress <= self.policy.url_refreshes

    def wrote(self) -> None:
        self.renewals_without_progress = 0

    def after_restart(self, reason: str, url: str | None) -> tuple[Next, TransferError | None]:
        self.restarts += 1
        if self.restarts > self.policy.restarts:
            error = ObjectChanged(f"gave up after {self.restarts} restarts: {reason}", url=url)
            return Next.END, error
        return Next.START_OVER, None

    def after(self, error: TransferError) -> Next:
        """What a transfer that failed with `error` does next."""
        if isinstance(error, EncodedBody | ErrorBody):
            return Next.END  # coded every time, or an error page: fetching again is no use
        if isinstance(error, VerificationError):
            self.verify_failures += 1
            if self.verify_failures > self.policy.verify_attempts:
                return Next.END
            self.refetches.append(str(error))
            return Next.REFETCH
        return Next.END

    @staticmethod
    def keeps_files(error: TransferError) -> bool:
        """Whether the work files stay for a later resume after the transfer ends with
        `error`: after a retryable failure, and a signed URL refused (a fresh URL goes on
        from those bytes); not after a final one, nor bytes that were wrong."""
        if isinstance(error, EncodedBody | ErrorBody | VerificationError):
            return False
        return error.retryable or isinstance(error, URLExpired)


def verify(
    size: int,
    *,
    told: Iterable[int | None],
    hashed: int,
    expected: Iterable[tuple[str, str, str]],
    actual: Mapping[str, bytes],
    url: str | None,
) -> VerificationError | None:
    """Whether `size` bytes, of which `hashed` were hashed, are the file: every size told
    (the server's total, the caller's) and every expected (algorithm, hex, source)."""
    for expected_size in told:
        if expected_size is not None and expected_size != size:
            return SizeMismatch(expected_size, size, url=url)
    if hashed != size:
        return SizeMismatch(size, hashed, url=url)
    for algorithm, value, source in expected:
        got = to_hex(actual[algorithm])
        if got != value:
            return DigestMismatch(algorithm, value, got, source=source, url=url)
    return None


def late_algorithms(expected: Iterable[tuple[str, str, str]], hashed: Iterable[str]) -> set[str]:
    """Algorithms offered too late to hash as the bytes came: one more pass from disk."""
    return {algorithm for algorithm, _, _ in expected} - set(hashed)
