"""The Scale adapter: a finished job's product files, each fetched from its own URL.

v6: `GET /v6/jobs/{id}/` until COMPLETED, FAILED or CANCELED, then the products
from `GET /v6/files/?job_id=..&file_type=PRODUCT`, following the absolute `next`
links (always on `base_url`'s origin: the token goes nowhere else).  Legacy (3.x):
`GET /jobs/{id}/`, whose `outputs[]` carry the product files inline.  Each
file's `url` is fetched and checked against `file_size`; Scale's URLs do not
expire.  A file without a URL (its workspace has no base URL) stays in the
package and fails when fetched, with the reason.

While job items wait, the scheduler asks about many at once (`still_running`:
`GET /v6/jobs/`, on 3.x `GET /jobs/`, filtered by up to 100 job ids a request,
`_scale_survey`); a job that no longer runs is then looked at alone, as above.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence

import structlog

from downloader.errors import ProviderError
from downloader.items import ItemRef
from downloader.providers._api import ApiClient
from downloader.providers._parse_scale import ScaleFile
from downloader.providers._poll import PhaseTracker, Poller
from downloader.providers._relist import Relisting
from downloader.providers._scale_steps import FILES, MAX_PAGES, scale_step
from downloader.providers._scale_survey import JobLists
from downloader.providers._steps import Drive, Route
from downloader.providers._turn import Parked, Turn
from downloader.providers._types import (
    JobSurvey,
    MemoryMemo,
    Package,
    PackageMemo,
    PhaseListener,
    SurveyAnswer,
)
from downloader.transfer import AssetRequest
from downloader.transfer._answers import promised_type

__all__ = ["MAX_PAGES", "ScaleProvider"]

log = structlog.get_logger("downloader.providers")


def _unavailable(reason: str) -> Callable[[], Awaitable[str]]:
    """A `refresh_url` that fails the asset: the engine calls it for want of a URL."""

    async def refuse() -> str:
        raise ProviderError(reason)

    return refuse


class ScaleProvider:
    """A Scale server's REST API, `v6` or `legacy` (3.x, unversioned paths)."""

    name = "scale"

    def __init__(
        self,
        api: ApiClient,
        pollers: Callable[[ItemRef], Poller],
        drive: Drive,
        *,
        legacy: bool,
    ) -> None:
        self.api = api
        self.legacy = legacy
        self._pollers = pollers
        self._drive = drive
        self.survey: JobSurvey | None = self
        self._lists = JobLists(api, legacy=legacy)

    def can_survey(self, item: ItemRef) -> bool:
        """v6 job items are: the job list says whether they still run."""
        return self._lists.can_survey(item)

    def surveyed_kinds(self) -> frozenset[str]:
        return self._lists.surveyed_kinds()

    async def still_running(self, items: Sequence[ItemRef]) -> SurveyAnswer:
        return await self._lists.still_running(items)

    async def prepare(
        self, item: ItemRef, memo: PackageMemo, events: PhaseListener, turn: Turn | None = None
    ) -> Package | Parked:
        """Wait for the job to finish; its live product files as a `Package`."""
        if item.provider != self.name or item.kind != "job":
            raise ProviderError(f"{item.key} is not a Scale job")
        label = f"Scale job {item.ids[0]}"
        files = await self._files(item, memo, PhaseTracker(events), turn)
        if isinstance(files, Parked):
            return files
        package = self._package(item, files, label, self._renewer(item, label))
        log.info(
            "provider.package_ready", provider=self.name, item=item.key, assets=len(package.assets)
        )
        return package

    async def _files(
        self,
        item: ItemRef,
        memo: PackageMemo,
        phases: PhaseTracker | None,
        turn: Turn | None = None,
    ) -> tuple[ScaleFile, ...] | Parked:
        machine = functools.partial(
            scale_step, item, legacy=self.legacy, base_url=self.api.base_url
        )
        ready = await self._drive(machine, Route(self.api, self._pollers(item), memo, phases), turn)
        if isinstance(ready, Parked):
            return ready
        files: tuple[ScaleFile, ...] = ready.extra["files"]
        return files

    def _renewer(self, item: ItemRef, label: str) -> Callable[[str], Callable[[], Awaitable[str]]]:
        """The `refresh_url` of each file: the file's URL as the platform gives it now.

        Files on object storage get signed URLs that expire; the job's file list (its
        detail, on a 3.x server) signs them afresh, all of them at once: the files of
        one job fetched side by side share one listing (`Relisting`)."""

        async def listing() -> dict[str, str]:
            # the job is known finished: a v6 server's list is read at once
            files = await self._files(item, MemoryMemo(FILES), None)
            offered = () if isinstance(files, Parked) else files  # never parks: no turn
            return {f.id: f.url for f in offered if f.url is not None}

        relisting = Relisting(listing)

        def renew(file_id: str) -> Callable[[], Awaitable[str]]:
            return relisting.renewer(
                file_id, lambda: ProviderError(f"{label}: file {file_id} is no longer offered")
            )

        return renew

    def _package(
        self,
        item: ItemRef,
        files: tuple[ScaleFile, ...],
        label: str,
        renew: Callable[[str], Callable[[], Awaitable[str]]],
    ) -> Package:
        live = [f for f in files if f.live]
        if not live:
            gone = len(files)
            note = f" ({gone} deleted or superseded)" if gone else ""
            raise ProviderError(f"{label} completed but lists no product files{note}")
        counts: dict[str, int] = {}
        for f in live:
            counts[f.name] = counts.get(f.name, 0) + 1
        assets = []
        for f in live:
            # Two outputs may hold files of one name: the file id tells them apart.
            name = f.name if f.name and counts[f.name] == 1 else f"{f.id}-{f.name or 'file'}"
            key = f"{item.key}#file-{f.id}"
            if f.url is None:
                reason = (
                    f"Scale file {f.id} ({f.name}) has no URL: its workspace has no base URL, "
                    "so Scale offers no way to download it"
                )
                refuse = _unavailable(reason)
                assets.append(
                    AssetRequest(key=key, refresh_url=refuse, filename=name, fallback_name=name)
                )
                continue
            assets.append(
                AssetRequest(
                    key=key,
                    url=f.url,
                    refresh_url=renew(f.id),
                    expected_size=f.size,
                    filename=name,
                    fallback_name=name,
                    media_type=promised_type(f.media_type, None),
                )
            )
        return Package(tuple(assets), None, "Scale job products")
