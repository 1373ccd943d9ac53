"""The Pixxel adapter: jobs, tasks, catalogs and order items to ZIP packages.

Each kind is a step machine (`_pixxel_steps` for jobs and tasks, where the PUT of
the package is repeated until it holds a signed URL, `_pixxel_catalog_steps` for
catalogs and order items, whose download is made once and then polled) run by the
runner's shell, lent to the adapter as its `Drive`.  What each stage learnt is kept
in the item's memo, so a later turn or a restarted process neither reads a finished
job again nor makes a second download.  When a signed URL expires, the engine's
`refresh_url` repeats the PUT, or the status GET, for a fresh one.  Where and when
the image was taken, which the bag's STAC Item shows, comes from the order item's
answer that said it was fulfilled; a catalog's record (`GET /v0/catalogs/{id}`), or
the record of an order item whose memo lacks it, is read once for it when ready.

While job items wait, the scheduler asks about many at once (`still_running`: one
list of each workflow's jobs, `_pixxel_survey`); a job that no longer runs is then
looked at alone, as above.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from urllib.parse import quote

import structlog

from downloader.errors import ProviderError
from downloader.items import ItemRef
from downloader.providers._api import ApiClient
from downloader.providers._parse_scene import scene_of_catalog, scene_of_order_item
from downloader.providers._pixxel_catalog_steps import catalog_step, label_of, refresh_step
from downloader.providers._pixxel_steps import PACKAGE, job_step
from downloader.providers._pixxel_survey import WorkflowLists
from downloader.providers._poll import PhaseTracker, Poller
from downloader.providers._steps import Drive, Fetch, Route
from downloader.providers._turn import Parked, Turn
from downloader.providers._types import (
    JobSurvey,
    MemoryMemo,
    Package,
    PackageMemo,
    PhaseListener,
    Scene,
    SurveyAnswer,
)
from downloader.transfer import AssetRequest

__all__ = ["PixxelProvider"]

log = structlog.get_logger("downloader.providers")

PollerFactory = Callable[[ItemRef], Poller]

ZIP = "application/zip"
"""What every Pixxel package is: an answer that is no ZIP is an error page."""


def _q(segment: str) -> str:
    return quote(segment, safe="")


class PixxelProvider:
    """Pixxel's `/v0` API; `api` carries the key (raw or `Bearer`)."""

    name = "pixxel"

    def __init__(self, api: ApiClient, pollers: PollerFactory, drive: Drive) -> None:
        self.api = api
        self._pollers = pollers
        self._drive = drive
        self.survey: JobSurvey | None = self
        self._lists = WorkflowLists(api)

    def can_survey(self, item: ItemRef) -> bool:
        """Job items are: their workflow's list says whether they still run."""
        return self._lists.can_survey(item)

    def surveyed_kinds(self) -> frozenset[str]:
        return self._lists.surveyed_kinds()

    async def still_running(self, items: Sequence[ItemRef]) -> SurveyAnswer:
        return await self._lists.still_running(items)

    async def prepare(
        self, item: ItemRef, memo: PackageMemo, events: PhaseListener, turn: Turn | None = None
    ) -> Package | Parked:
        """Wait for the item's job and package; its ZIP as a one-asset `Package`."""
        if item.provider != self.name:
            raise ProviderError(f"{item.key} is not a Pixxel item")
        phases = PhaseTracker(events)
        if item.kind in ("job", "task"):
            package = await self._job_or_task(item, memo, phases, turn)
        elif item.kind in ("catalog", "order_item"):
            package = await self._catalog(item, memo, phases, turn)
        else:
            raise ProviderError(f"Pixxel has no items of kind {item.kind!r}")
        if isinstance(package, Parked):
            return package
        log.info(
            "provider.package_ready",
            provider=self.name,
            item=item.key,
            download_id=package.download_id,
            assets=len(package.assets),
        )
        return package

    # ---- jobs and tasks -------------------------------------------------------------------------
    async def _job_or_task(
        self, item: ItemRef, memo: PackageMemo, phases: PhaseTracker, turn: Turn | None
    ) -> Package | Parked:
        machine = functools.partial(job_step, item)
        ready = await self._drive(machine, Route(self.api, self._pollers(item), memo, phases), turn)
        if isinstance(ready, Parked):
            return ready

        async def refresh() -> str:
            # the job is known finished: only its package is asked for again
            again = MemoryMemo(PACKAGE)
            fresh = await self._drive(machine, Route(self.api, self._pollers(item), again))
            return _url(fresh)

        task_id = item.ids[2] if item.kind == "task" else None
        asset = AssetRequest(
            key=f"{item.key}#package",
            url=_url(ready),
            refresh_url=refresh,
            fallback_name=f"{task_id or item.ids[1]}.zip",
            media_type=ZIP,
        )
        kind = "task" if task_id is not None else "job"
        return Package((asset,), ready.download_id, f"Pixxel {kind} package (ZIP)")

    # ---- catalogs and order items ---------------------------------------------------------------
    async def _catalog(
        self, item: ItemRef, memo: PackageMemo, phases: PhaseTracker, turn: Turn | None
    ) -> Package | Parked:
        bound = log.bind(provider=self.name, item=item.key)
        machine = functools.partial(catalog_step, item)
        route = Route(self.api, self._pollers(item), memo, phases, log=bound)
        ready = await self._drive(machine, route, turn)
        if isinstance(ready, Parked):
            return ready
        download_id = ready.download_id or ""

        async def refresh() -> str:
            # the same download polled again; forgetting it (404) now fails the fetch
            fresh = await self._drive(
                functools.partial(refresh_step, item, download_id),
                Route(self.api, self._pollers(item), memo),
            )
            return _url(fresh)

        asset = AssetRequest(
            key=f"{item.key}#package",
            url=_url(ready),
            refresh_url=refresh,
            fallback_name=f"{item.ids[0]}.zip",
            media_type=ZIP,
        )
        what = f"{label_of(item).rsplit(' ', 1)[0]} download (ZIP)"
        images = ready.extra.get("images")
        if images is not None:  # the order item's answer that said it was fulfilled
            scene = scene_of_order_item({"images": images})
        else:
            scene = await self._scene(item)
        return Package((asset,), download_id, what, scene=scene)

    async def _scene(self, item: ItemRef) -> Scene | None:
        """Where and when the image was taken, from the item's record; asked once, and
        None when the record cannot be had: it describes the bag, it decides nothing."""
        catalog = item.kind == "catalog"
        path = f"/v0/{'catalogs' if catalog else 'order-items'}/{_q(item.ids[0])}"
        try:
            body = await self.api.call("GET", path)
        except ProviderError as exc:
            log.info("provider.scene_unknown", provider=self.name, item=item.key, error=str(exc))
            return None
        return scene_of_catalog(body) if catalog else scene_of_order_item(body)


def _url(ready: Fetch) -> str:
    """A Pixxel package's one URL (its machines fetch only with one)."""
    if ready.url is None:
        raise ProviderError("a Pixxel package without a URL")
    return ready.url
