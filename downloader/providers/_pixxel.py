"""The Pixxel adapter: jobs, tasks, catalogs and order items to ZIP packages.

Jobs and tasks: `GET /v0/workflows/{wf}/jobs/{job}` until the job (or the task in
its `tasks[]`) is finished, then `PUT .../download` (or `.../tasks/{task}/download`)
again and again until the answer holds a `signed_url` and a ready status: Pixxel
has no status endpoint for these packages, repeating the PUT is the only way to
poll.  Catalogs and order items: `POST /v0/catalogs/download` once, then
`GET /v0/catalogs/download/{id}` until `success` or `failed`; an order item is read
first, until it is fulfilled (`_pixxel_order`).  That id is saved in
the item's memo before the first status poll, so a restarted process polls the
same download instead of creating another.  When a signed URL expires, the
engine's `refresh_url` repeats the PUT, or the status GET, for a fresh one.  Where
and when the image was taken, which the bag's STAC Item shows, comes from the order
item's last answer while it was waited for; a catalog's record (`GET
/v0/catalogs/{id}`), or a resumed order item's, is read once for it when ready.

While job items wait, the scheduler asks about many at once (`still_running`: one
list of each workflow's jobs, `_pixxel_survey`); a job that no longer runs is then
looked at alone, as above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import quote

import structlog

from downloader.errors import ApiError, MalformedResponse, ProviderError, RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._api import ApiClient
from downloader.providers._parse_common import RemoteState
from downloader.providers._parse_pixxel import (
    JobState,
    OrderItemState,
    PackageState,
    catalog_request,
    job_failure,
    parse_job,
    parse_package,
)
from downloader.providers._parse_scene import scene_of_catalog, scene_of_order_item
from downloader.providers._pixxel_order import post_when_fulfilled, wait_until_fulfilled
from downloader.providers._pixxel_survey import WorkflowLists
from downloader.providers._poll import NotYet, PhaseTracker, Poller
from downloader.providers._types import Package, PackageMemo, PhaseListener, Scene, SurveyAnswer
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

    def __init__(self, api: ApiClient, pollers: PollerFactory) -> None:
        self.api = api
        self._pollers = pollers
        self._lists = WorkflowLists(api)

    def can_survey(self, item: ItemRef) -> bool:
        """Job items are: their workflow's list says whether they still run."""
        return self._lists.can_survey(item)

    def surveyed_kinds(self) -> frozenset[str]:
        return self._lists.surveyed_kinds()

    async def still_running(self, items: Sequence[ItemRef]) -> SurveyAnswer:
        return await self._lists.still_running(items)

    async def prepare(self, item: ItemRef, memo: PackageMemo, events: PhaseListener) -> Package:
        """Wait for the item's job and package; its ZIP as a one-asset `Package`."""
        if item.provider != self.name:
            raise ProviderError(f"{item.key} is not a Pixxel item")
        phases = PhaseTracker(events)
        if item.kind in ("job", "task"):
            package = await self._job_or_task(item, phases)
        elif item.kind in ("catalog", "order_item"):
            package = await self._catalog(item, memo, phases)
        else:
            raise ProviderError(f"Pixxel has no items of kind {item.kind!r}")
        log.info(
            "provider.package_ready",
            provider=self.name,
            item=item.key,
            download_id=package.download_id,
            assets=len(package.assets),
        )
        return package

    # ---- jobs and tasks -------------------------------------------------------------------------
    async def _job_or_task(self, item: ItemRef, phases: PhaseTracker) -> Package:
        workflow_id, job_id = item.ids[0], item.ids[1]
        task_id = item.ids[2] if item.kind == "task" else None
        poller = self._pollers(item)
        await self._wait_for_job(poller, phases, workflow_id, job_id, task_id)
        path = f"/v0/workflows/{_q(workflow_id)}/jobs/{_q(job_id)}"
        label = f"Pixxel job {workflow_id}/{job_id}"
        if task_id is not None:
            path = f"{path}/tasks/{_q(task_id)}"
            label = f"Pixxel task {task_id} of job {workflow_id}/{job_id}"
        path += "/download"
        await phases.enter("requested")
        state = await self._put_until_ready(poller, phases, path, label)

        async def refresh() -> str:
            fresh = await self._put_until_ready(self._pollers(item), None, path, label)
            assert fresh.signed_url is not None  # ready implies a URL
            return fresh.signed_url

        asset = AssetRequest(
            key=f"{item.key}#package",
            url=state.signed_url,
            refresh_url=refresh,
            fallback_name=f"{task_id or job_id}.zip",
            media_type=ZIP,
        )
        kind = "task" if task_id is not None else "job"
        return Package((asset,), state.download_id, f"Pixxel {kind} package (ZIP)")

    async def _wait_for_job(
        self,
        poller: Poller,
        phases: PhaseTracker,
        workflow_id: str,
        job_id: str,
        task_id: str | None,
    ) -> JobState:
        label = f"Pixxel job {workflow_id}/{job_id}"
        path = f"/v0/workflows/{_q(workflow_id)}/jobs/{_q(job_id)}"

        async def ask() -> JobState | NotYet:
            job = parse_job(await self.api.call("GET", path))
            if task_id is None:
                status = job.status
                if status.state is RemoteState.FAILED:
                    raise RemoteJobFailed(self.api.clean(job_failure(job, label)))
            else:
                task = job.task(task_id)
                if task is None:
                    if job.status.state is not RemoteState.RUNNING:
                        raise ProviderError(f"{label} {job.status.word} without a task {task_id}")
                    await phases.enter("waiting", f"job {job.status.word}")
                    return NotYet(f"job {job.status.word}, task {task_id} not listed yet")
                status = task.status
                if status.state is RemoteState.FAILED:
                    reason = f": {task.err_msg}" if task.err_msg else ""
                    message = f"Pixxel task {task_id} of job {workflow_id}/{job_id} {status.word}"
                    raise RemoteJobFailed(self.api.clean(message + reason))
            if status.state is RemoteState.SUCCEEDED:
                return job
            await phases.enter("waiting", status.word)
            return NotYet(status.word, status.known)

        return await poller.until(
            ask, what=label if task_id is None else f"Pixxel task {task_id}", goal="finished"
        )

    async def _put_until_ready(
        self, poller: Poller, phases: PhaseTracker | None, path: str, label: str
    ) -> PackageState:
        what = f"{label} package"

        async def ask() -> PackageState | NotYet:
            state = parse_package(await self.api.call("PUT", path), what)
            return await _judge(state, what, phases)

        return await poller.until(ask, what=what)

    # ---- catalogs and order items ---------------------------------------------------------------
    async def _catalog(self, item: ItemRef, memo: PackageMemo, phases: PhaseTracker) -> Package:
        kind, item_id = item.kind, item.ids[0]
        label = f"Pixxel {kind.replace('_', ' ')} {item_id}"
        poller = self._pollers(item)
        saved = await memo.load() or {}
        remembered = saved.get("download_id")
        state: PackageState | None = None
        download_id = remembered if isinstance(remembered, str) else ""
        if download_id:
            log.info(
                "provider.download_resumed",
                provider=self.name,
                item=item.key,
                download_id=download_id,
            )
            await phases.enter("requested", f"download {download_id}")
            try:
                state = await self._status_until_ready(poller, phases, download_id, label, memo)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                # The platform forgot the download (they do not live for ever): ask anew.
                log.info(
                    "provider.download_forgotten",
                    provider=self.name,
                    item=item.key,
                    download_id=download_id,
                )
                await memo.save({})
        order: OrderItemState | None = None
        if state is None:
            if kind == "order_item":  # its answer shows where the images were taken too
                order = await wait_until_fulfilled(self.api, poller, phases, item_id)
            download_id, state = await self._create_download(poller, item, memo, label)
            await phases.enter("requested", f"download {download_id}")
            if not state.ready:
                state = await self._status_until_ready(poller, phases, download_id, label, memo)

        async def refresh() -> str:
            fresh = await self._status_until_ready(
                self._pollers(item), None, download_id, label, memo
            )
            assert fresh.signed_url is not None
            return fresh.signed_url

        asset = AssetRequest(
            key=f"{item.key}#package",
            url=state.signed_url,
            refresh_url=refresh,
            fallback_name=f"{item_id}.zip",
            media_type=ZIP,
        )
        what = f"{label.rsplit(' ', 1)[0]} download (ZIP)"
        scene = order.scene if order is not None else await self._scene(item)
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

    async def _create_download(
        self, poller: Poller, item: ItemRef, memo: PackageMemo, label: str
    ) -> tuple[str, PackageState]:
        body = catalog_request(item.kind, item.ids[0])
        what = f"{label} download request"

        path = "/v0/catalogs/download"
        if item.kind == "order_item":
            answer = await post_when_fulfilled(self.api, poller, path, body, what)
        else:
            answer = await poller.call(
                lambda: self.api.call("POST", path, json_body=body), what=what
            )
        state = parse_package(answer, what)
        if state.download_id is None:
            raise MalformedResponse(f"{what}: the answer has no 'id'")
        # Saved before anything else is asked: a restart must poll this download, not make one.
        await memo.save({"download_id": state.download_id, "kind": item.kind})
        log.info(
            "provider.download_created",
            provider=self.name,
            item=item.key,
            download_id=state.download_id,
        )
        return state.download_id, state

    async def _status_until_ready(
        self,
        poller: Poller,
        phases: PhaseTracker | None,
        download_id: str,
        label: str,
        memo: PackageMemo,
    ) -> PackageState:
        path = f"/v0/catalogs/download/{_q(download_id)}"
        what = f"{label} download {download_id}"

        async def ask() -> PackageState | NotYet:
            state = parse_package(await self.api.call("GET", path), what)
            if state.status.state is RemoteState.FAILED:
                await memo.save({})  # a retry of the item must ask for a new download
            return await _judge(state, what, phases)

        return await poller.until(ask, what=what)


async def _judge(
    state: PackageState, what: str, phases: PhaseTracker | None
) -> PackageState | NotYet:
    """A package answer: ready, failed (raised) or not yet (and the phase says so)."""
    if state.ready:
        return state
    if state.status.state is RemoteState.FAILED:
        raise RemoteJobFailed(f"{what}: Pixxel reports {state.status.word!r}")
    if phases is not None:
        await phases.enter("preparing", state.status.word)
    if state.status.state is RemoteState.SUCCEEDED:
        return NotYet(f"{state.status.word} but no signed_url yet")
    return NotYet(state.status.word, state.status.known)
