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

from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import quote

import structlog

from downloader.errors import MalformedResponse, ProviderError, RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._api import ApiClient
from downloader.providers._parse_common import RemoteState
from downloader.providers._parse_scale import (
    FilesPage,
    ScaleFile,
    ScaleJob,
    next_page_url,
    parse_files_page,
    parse_job,
    parse_legacy_job,
)
from downloader.providers._poll import NotYet, PhaseTracker, Poller
from downloader.providers._scale_survey import JobLists
from downloader.providers._types import (
    Package,
    PackageMemo,
    PhaseListener,
    SilentListener,
    SurveyAnswer,
)
from downloader.transfer import AssetRequest
from downloader.transfer._answers import promised_type

__all__ = ["MAX_PAGES", "ScaleProvider"]

log = structlog.get_logger("downloader.providers")

MAX_PAGES = 10_000
"""File-list pages followed for one job before the list is taken to be looping."""


def _unavailable(reason: str) -> Callable[[], Awaitable[str]]:
    """A `refresh_url` that fails the asset: the engine calls it for want of a URL."""

    async def refuse() -> str:
        raise ProviderError(reason)

    return refuse


class ScaleProvider:
    """A Scale server's REST API, `v6` or `legacy` (3.x, unversioned paths)."""

    name = "scale"

    def __init__(self, api: ApiClient, pollers: Callable[[ItemRef], Poller], *, legacy: bool):
        self.api = api
        self.legacy = legacy
        self._pollers = pollers
        self._lists = JobLists(api, legacy=legacy)

    def can_survey(self, item: ItemRef) -> bool:
        """v6 job items are: the job list says whether they still run."""
        return self._lists.can_survey(item)

    def surveyed_kinds(self) -> frozenset[str]:
        return self._lists.surveyed_kinds()

    async def still_running(self, items: Sequence[ItemRef]) -> SurveyAnswer:
        return await self._lists.still_running(items)

    async def prepare(self, item: ItemRef, memo: PackageMemo, events: PhaseListener) -> Package:
        """Wait for the job to finish; its live product files as a `Package`."""
        if item.provider != self.name or item.kind != "job":
            raise ProviderError(f"{item.key} is not a Scale job")
        job_id = item.ids[0]
        label = f"Scale job {job_id}"
        poller = self._pollers(item)
        job = await self._wait(poller, PhaseTracker(events), job_id, label)
        files = job.files if self.legacy else await self._list_files(poller, job_id, label)
        package = self._package(item, files, label, self._renewer(item, job_id, label))
        log.info(
            "provider.package_ready", provider=self.name, item=item.key, assets=len(package.assets)
        )
        return package

    async def _wait(
        self, poller: Poller, phases: PhaseTracker, job_id: str, label: str
    ) -> ScaleJob:
        ident = quote(job_id, safe="")
        path = f"/jobs/{ident}/" if self.legacy else f"/v6/jobs/{ident}/"
        parse = parse_legacy_job if self.legacy else parse_job

        async def ask() -> ScaleJob | NotYet:
            job = parse(await self.api.call("GET", path))
            if job.status.state is RemoteState.FAILED:
                raise RemoteJobFailed(self.api.clean(job.failure()))
            if job.status.state is RemoteState.SUCCEEDED:
                return job
            await phases.enter("waiting", job.status.word)
            return NotYet(job.status.word, job.status.known)

        return await poller.until(ask, what=label, goal="finished")

    async def _list_files(self, poller: Poller, job_id: str, label: str) -> list[ScaleFile]:
        url = self.api.url("/v6/files/")
        params: Mapping[str, str] | None = {"job_id": job_id, "file_type": "PRODUCT"}
        seen: set[str] = set()
        files: list[ScaleFile] = []
        while True:

            async def fetch(url: str = url, params: Mapping[str, str] | None = params) -> FilesPage:
                return parse_files_page(await self.api.call("GET", url, params=params))

            page = await poller.call(fetch, what=f"{label} file list")
            files.extend(page.files)
            if page.next_url is None:
                return files
            url, params = next_page_url(page.next_url, self.api.base_url), None
            if url in seen or len(seen) >= MAX_PAGES:
                raise MalformedResponse(f"{label} file list: its 'next' links go round in circles")
            seen.add(url)

    def _renewer(
        self, item: ItemRef, job_id: str, label: str
    ) -> Callable[[str], Callable[[], Awaitable[str]]]:
        """The `refresh_url` of each file: the file's URL as the platform gives it now.

        Files on object storage get signed URLs that expire; the job's file list (its
        detail, on a 3.x server) signs them afresh."""

        def renew(file_id: str) -> Callable[[], Awaitable[str]]:
            async def fresh() -> str:
                poller = self._pollers(item)
                if self.legacy:
                    quiet = PhaseTracker(SilentListener())
                    files = list((await self._wait(poller, quiet, job_id, label)).files)
                else:
                    files = await self._list_files(poller, job_id, label)
                for f in files:
                    if f.id == file_id and f.url is not None:
                        return f.url
                raise ProviderError(f"{label}: file {file_id} is no longer offered")

            return fresh

        return renew

    def _package(
        self,
        item: ItemRef,
        files: list[ScaleFile] | tuple[ScaleFile, ...],
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
