"""The end of a transfer: the bytes checked against every size and digest told
(`_course.verify`), then made durable under their final name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import anyio
import structlog

from downloader.errors import EncodedBody, VerificationError
from downloader.jail import Jail
from downloader.transfer._answers import promises_start
from downloader.transfer._course import late_algorithms, verify
from downloader.transfer._hashers import MultiHasher, to_hex
from downloader.transfer._plan import contiguous_end
from downloader.transfer._record import catch_up
from downloader.transfer._request import HEAD_BYTES, FetchResult
from downloader.transfer._space import is_disk_full
from downloader.transfer._vet import check_start
from downloader.transfer._writer import DataFile, HeldFile, promote

log = structlog.get_logger("downloader.transfer")

if TYPE_CHECKING:
    from downloader.transfer._transfer import Transfer


async def finish(t: Transfer, dest_dir: Path, rename: Callable[[str], str] | None) -> FetchResult:
    assert t.cp is not None
    assert t.data is not None
    size = contiguous_end(t.cp.segments)
    if t.front.done < size:  # what no write handed over and nothing followed
        await catch_up(t, size)
    if promises_start(t.promised):
        await check_start(t.data, size, t.promised, t.status, t.redacted())
    try:
        actual = await _verify(t, size)
    except VerificationError as exc:
        if t.encoding is None:
            raise
        raise EncodedBody(t.encoding, exc) from None
    expected = t.expected()
    name = t.cp.name if rename is None else rename(t.cp.name)
    final = dest_dir / name
    data = t.data
    t.data = None
    place = _place(t, final)
    if isinstance(data, HeldFile):
        head = data.read_at(0, HEAD_BYTES)
        await _write_out(t, data, size, place)
        data.release()
    else:
        head = await anyio.to_thread.run_sync(_promote, t, data, place)
    return FetchResult(
        path=final,
        name=name,
        size=size,
        sha256=to_hex(actual["sha256"]),
        digests={k: to_hex(v) for k, v in actual.items()},
        verified_by=tuple(sorted({s for _, _, s in expected})),
        bytes_received=t.received,
        head=head,
        validator=t.cp.validator,
        ranges_supported=t.cp.ranges_supported,
        refetches=tuple(t.course.refetches),
        content_encoding=t.encoding,
    )


async def _verify(t: Transfer, size: int) -> dict[str, bytes]:
    """The digests of the file, once `size` and every digest expected agree."""
    assert t.cp is not None
    assert t.data is not None
    hasher = t.front.hasher
    expected = t.expected()
    told = (t.cp.total, t.request.expected_size)
    url = t.redacted()
    # the sizes first: a short file is not read again for a digest it cannot have
    wrong = verify(size, told=told, hashed=hasher.size, expected=(), actual={}, url=url)
    if wrong is not None:
        raise wrong
    actual = hasher.digests()
    missing = late_algorithms(expected, hasher.algorithms)
    if missing:  # offered late (not by the first response): one more pass, from disk
        late = MultiHasher(missing)
        if isinstance(t.data, HeldFile):
            t.data.hash_range(late, 0, size)
        else:
            await anyio.to_thread.run_sync(t.data.hash_range, late, 0, size)
        actual.update(late.digests())
    wrong = verify(size, told=(), hashed=size, expected=expected, actual=actual, url=url)
    if wrong is not None:
        raise wrong
    return actual


def _promote(t: Transfer, data: DataFile, place: tuple[Jail, PurePosixPath]) -> bytes:
    """The file's first bytes; the file durable at `place`, its checkpoint gone."""
    head = data.read_at(0, HEAD_BYTES)
    promote(data, (t.files.jail, t.files.data_rel), place)
    t.files.forget()
    return head


async def _write_out(
    t: Transfer, held: HeldFile, size: int, place: tuple[Jail, PurePosixPath]
) -> None:
    """A held body made durable at `place` in one worker-thread call (made, written,
    fsynced, renamed); a full disk waits for room, then the call is made again whole."""
    files = t.files

    def write_out() -> None:
        data = held.write_out(files.open_data(fresh=True), size)
        promote(data, (files.jail, files.data_rel), place)
        files.forget()

    while True:
        try:
            await anyio.to_thread.run_sync(write_out)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            log.warning("transfer.write_out_deferred", key=t.request.key, error=str(exc))
            await t.e.space.after_full(size, t.request.on_wait, key=t.request.key)
            continue
        t.e.space.used(size, key=t.request.key)
        return


def _place(t: Transfer, final: Path) -> tuple[Jail, PurePosixPath]:
    """`final` in the jail of the archive root, or (outside it) in its own folder's."""
    jail = t.e.jail
    if jail.contains(final):
        return jail, jail.relative(final)
    return Jail(final.parent), PurePosixPath(final.name)
