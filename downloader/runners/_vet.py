"""Vetting an item's fetched files before they are bagged, and repairing damaged ones.

A ZIP payload has every member's CRC-32 checked.  A member that fails it (or whose
deflate stream is broken) was most likely damaged in transit, so it is repaired
rather than failed: its span (local header to the end of its data) is fetched again
with `If-Range` and written in place, or the whole file where the server offers no
ranges, and every CRC is checked again.  The repairs of one file share the
`[transfer] repair_attempts` budget with the engine's whole-file re-downloads after
a wrong digest or size.  The file lies in the bag being assembled under `.partial/`,
which is renamed into place only after every check passed, so no repair reaches the
archive before it passed either.

Every repair is logged (`item.repaired`: member, bytes fetched again, how) and kept
as a `repaired` event of the item, which `status -v` counts.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import structlog

from downloader.archive import BagBuilder, check_zip, extract_zip
from downloader.clock import Clock
from downloader.errors import ArchiveError, DamagedMember
from downloader.items import ItemRef
from downloader.observe import NullObserver, Observer
from downloader.store import StateStore
from downloader.store._models import REPAIRED, AssetRecord, AssetState
from downloader.transfer import AssetRequest, FetchResult, TransferEngine
from downloader.transfer._refetch import Refetched, refetch_span
from downloader.transfer._repair import Repair, plan_repair
from downloader.transfer._urls import redact_url

__all__ = [
    "ZIP_LIMITS",
    "Fetched",
    "Vetter",
    "looks_like_zip",
    "starts_like_zip",
    "url_hint",
]

log = structlog.get_logger("downloader.pipeline")

# caps for ZIP packages: a bomb is refused while it streams, before it fills the disk
ZIP_LIMITS: dict[str, Any] = {"max_total": 1 << 40, "max_ratio": 1000.0, "max_members": 100_000}

_HASH_BLOCK = 1 << 20

Payload = tuple[str, int, str, str | None]
"""A file for the bag: name under `data/`, size, SHA-256 and MD5 (None: not known)."""


@dataclasses.dataclass(frozen=True)
class Fetched:
    """One asset's file in the bag being assembled, as fetched now or by an earlier run."""

    asset: AssetRequest
    name: str
    size: int
    sha256: str
    md5: str | None = None
    is_zip: bool | None = None
    """Whether it starts like a ZIP; None when not looked at (fetched by an earlier run)."""
    validator: str | None = None
    """What `If-Range` carries to ask for a part of these bytes; None: only all of them."""
    ranges_supported: bool = False
    repairs: int = 0
    """Repairs spent on it so far, the engine's re-downloads included."""

    @classmethod
    def of(cls, asset: AssetRequest, result: FetchResult, repairs: int = 0) -> Fetched:
        return cls(
            asset=asset,
            name=result.name,
            size=result.size,
            sha256=result.sha256,
            md5=result.digests.get("md5"),
            is_zip=starts_like_zip(result.head),
            validator=result.validator,
            ranges_supported=result.ranges_supported,
            repairs=repairs + len(result.refetches),
        )

    @property
    def payload(self) -> Payload:
        return (self.name, self.size, self.sha256, self.md5)


class Vetter:
    """Checks, repairs and (when configured) unpacks the fetched files of items."""

    def __init__(
        self,
        *,
        store: StateStore,
        engine: TransferEngine,
        clock: Clock,
        repair_attempts: int,
        extract: bool,
        observer: Observer | None = None,
    ) -> None:
        self.store, self.engine, self.clock = store, engine, clock
        self.repair_attempts = repair_attempts
        self.extract = extract
        self.observer: Observer = observer or NullObserver()

    def refetch_noter(
        self, ref: ItemRef, asset_key: str
    ) -> Callable[[str, int | None], Awaitable[None]]:
        """An `AssetRequest.on_refetch` that logs and keeps the engine's whole-file
        re-downloads after a wrong digest or size as repairs of `ref`."""

        async def note(why: str, size: int | None) -> None:
            await self._repaired(ref, asset_key, None, None, size, "whole", why)

        return note

    async def vet(self, ref: ItemRef, fetched: Fetched, bag: BagBuilder) -> list[Payload]:
        """The files `fetched` puts into the bag, after its checks (and repairs) passed.

        A ZIP that still fails its check when the repair budget is spent is removed and
        its asset marked failed, so a later attempt fetches it again instead of trusting
        the bad copy; the error names the member and what is wrong with it (for a wrong
        CRC-32, the expected and the actual one).
        """
        path = bag.data_dir / fetched.name
        is_zip = fetched.is_zip
        if is_zip is None:  # fetched by an earlier run: look at it now
            is_zip = await anyio.to_thread.run_sync(looks_like_zip, path)
        if not is_zip:
            return [fetched.payload]
        try:
            fetched = await self._checked(ref, fetched, path, bag)
            if not self.extract:
                return [fetched.payload]
            folder = fetched.name.removesuffix(".zip") or "package"
            files = await anyio.to_thread.run_sync(
                lambda: extract_zip(path, bag.data_dir / folder, **ZIP_LIMITS)
            )
        except ArchiveError:
            await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
            await self.store.save_asset(
                AssetRecord(
                    item_key=ref.key,
                    asset_key=fetched.asset.key,
                    name=fetched.name,
                    state=AssetState.FAILED,
                ),
                now=self.clock.utcnow(),
            )
            raise
        await anyio.to_thread.run_sync(path.unlink)
        return [(f"{folder}/{f.path}", f.size, f.sha256, None) for f in files]

    async def _checked(
        self, ref: ItemRef, fetched: Fetched, path: Path, bag: BagBuilder
    ) -> Fetched:
        """`fetched` once every member's CRC-32 passes, repaired as often as the budget
        allows; the last `DamagedMember` when it is spent."""
        while True:
            try:
                await anyio.to_thread.run_sync(lambda: check_zip(path, **ZIP_LIMITS))
                return fetched
            except DamagedMember as exc:
                repair = plan_repair(
                    size=fetched.size,
                    span=exc.span,
                    validator=fetched.validator,
                    ranges_supported=fetched.ranges_supported,
                    used=fetched.repairs,
                    budget=self.repair_attempts,
                )
                if repair is None:
                    raise
                fetched = await self._repair(ref, fetched, path, bag, repair, exc)

    async def _repair(
        self,
        ref: ItemRef,
        fetched: Fetched,
        path: Path,
        bag: BagBuilder,
        repair: Repair,
        exc: DamagedMember,
    ) -> Fetched:
        if repair.ranged and fetched.validator is not None:
            outcome = await refetch_span(
                self.engine,
                fetched.asset,
                path,
                repair,
                size=fetched.size,
                validator=fetched.validator,
            )
            if outcome is not Refetched.REFUSED:
                sha256, md5 = await anyio.to_thread.run_sync(
                    _hash_file, path, fetched.md5 is not None
                )
                fetched = dataclasses.replace(
                    fetched, sha256=sha256, md5=md5, repairs=fetched.repairs + 1
                )
                if outcome is Refetched.WRITTEN:
                    self.observer.fetched(ref.provider, repair.length)
                    await self._repaired(
                        ref,
                        fetched.asset.key,
                        fetched.name,
                        exc.member,
                        repair.length,
                        "range",
                        str(exc),
                    )
                await self._save(ref, fetched)
                return fetched
        # the whole file: the engine's verified fetch replaces it under the same name
        asset = dataclasses.replace(
            fetched.asset,
            on_progress=None,
            on_refetch=self.refetch_noter(ref, fetched.asset.key),
        )
        name = fetched.name
        result = await self.engine.fetch(asset, bag.data_dir, rename=lambda _: name)
        fetched = Fetched.of(fetched.asset, result, fetched.repairs + 1)
        self.observer.fetched(ref.provider, result.bytes_received)
        await self._repaired(
            ref, fetched.asset.key, fetched.name, exc.member, result.size, "whole", str(exc)
        )
        await self._save(ref, fetched)
        return fetched

    async def _repaired(
        self,
        ref: ItemRef,
        asset_key: str,
        name: str | None,
        member: str | None,
        size: int | None,
        how: str,
        why: str,
    ) -> None:
        """Log and keep one repair: `size` bytes of `member` of file `name` (None: not
        named yet) fetched again, by "range" or as the "whole" file, after `why`."""
        log.info(
            "item.repaired",
            item=ref.key,
            asset=asset_key,
            file=name,
            member=member,
            bytes=size,
            how=how,
            error=why,
        )
        self.observer.repaired(ref.provider, size or 0)
        where = name or asset_key
        if member:
            where = f"member {member!r} of {where}"
        amount = "the whole file" if size is None else f"{size} bytes"
        detail = f"{where}: {amount} fetched again ({how}) after {why}"
        await self.store.record_event(ref.key, REPAIRED, detail, now=self.clock.utcnow())

    async def _save(self, ref: ItemRef, fetched: Fetched) -> None:
        """The asset's record with the repaired file's digest: a later run trusts it."""
        await self.store.save_asset(
            AssetRecord(
                item_key=ref.key,
                asset_key=fetched.asset.key,
                name=fetched.name,
                url_hint=url_hint(fetched.asset),
                size=fetched.size,
                sha256=fetched.sha256,
                state=AssetState.DONE,
                bytes_done=fetched.size,
            ),
            now=self.clock.utcnow(),
        )


def url_hint(asset: AssetRequest) -> str | None:
    """Where `asset` comes from, as the store may keep it (no query: it may sign)."""
    return redact_url(asset.url).removesuffix("?…") if asset.url else None


def _hash_file(path: Path, with_md5: bool) -> tuple[str, str | None]:
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False) if with_md5 else None
    with path.open("rb") as f:
        while block := f.read(_HASH_BLOCK):
            sha256.update(block)
            if md5 is not None:
                md5.update(block)
    return sha256.hexdigest(), None if md5 is None else md5.hexdigest()


def starts_like_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def looks_like_zip(path: Path) -> bool:
    with path.open("rb") as f:
        return starts_like_zip(f.read(4))
