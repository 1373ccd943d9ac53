"""The Pixxel API (`/pixxel/v0/...`): jobs, tasks and catalog downloads.

Routes: `GET /v0/workflows/{wf}/jobs` (List Jobs: `{"jobs": [...]}`, every job of
the workflow, no paging, optional `status` filter, repeated or comma-separated,
any case; 404 when the scenario sets `job_lists = false`), `GET .../jobs/{job}`,
`PUT .../jobs/{job}/download`, `PUT .../jobs/{job}/tasks/{task}/download`,
`POST /v0/catalogs/download`, `GET /v0/catalogs/download/{id}` and
`GET /v0/order-items/{id}` (`_pixxel_orders`).  A listing
counts as one status answer of each job it shows (`job_polls`, `listed`), never
as a call naming it (`api_calls`), and ignores the jobs' throttle and malformed
knobs.

Auth is the API key in `Authorization`, raw or after `Bearer `; anything else is
403.  Errors carry Pixxel's `{"error": {"code", "message", "details"}}` body.
Packages are ZIPs on the file host; every answer that hands out a `signed_url`
signs it afresh for the item's URL lifetime.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from aiohttp import web

from downloader.emulator._corrupt import faults_for
from downloader.emulator._filespec import FileSpec
from downloader.emulator._items import package_name
from downloader.emulator._malform import spoil
from downloader.emulator._pixxel_catalog import CatalogDownloads, pixxel_error
from downloader.emulator._pixxel_jobs import JobStates, wanted_statuses
from downloader.emulator._pixxel_model import JobModel, build_jobs
from downloader.emulator._pixxel_orders import OrderItems
from downloader.emulator._pixxel_records import PixxelRecords
from downloader.emulator._respond import admit, answer
from downloader.emulator._scenario import Knobs, PixxelDownload, PixxelJob, PixxelTask, Timing
from downloader.emulator._state import Context
from downloader.emulator._zip import ZipContent


class PixxelApi:
    """Handlers and state of the Pixxel emulation."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.jobs = build_jobs(ctx.scenario)
        self.states = JobStates(ctx)
        self.paths: dict[str, str] = {}
        for model in self.jobs.values():
            self.register(model.job)
            for task in model.tasks:
                self.register(task)
        for download in ctx.scenario.pixxel_downloads:
            self.register(download)
        self.catalog = CatalogDownloads(self)
        self.orders = OrderItems(ctx)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/v0/workflows/{wf}/jobs", self.list_jobs)
        app.router.add_get("/v0/workflows/{wf}/jobs/{job}", self.get_job)
        app.router.add_put("/v0/workflows/{wf}/jobs/{job}/download", self.download_job)
        app.router.add_put(
            "/v0/workflows/{wf}/jobs/{job}/tasks/{task}/download", self.download_task
        )
        app.router.add_post("/v0/catalogs/download", self.catalog.create)
        app.router.add_get("/v0/catalogs/download/{id}", self.catalog.status)
        # after the download routes, so "download" is never taken for a catalog's id
        app.router.add_get(
            "/v0/catalogs/{id}", PixxelRecords(self.ctx.scenario.pixxel_downloads).catalog
        )
        app.router.add_get("/v0/order-items/{id}", self.orders.get)
        return app

    def register(self, item: PixxelJob | PixxelTask | PixxelDownload) -> None:
        """Put an item's ZIP package on the file host."""
        path = "/files/pixxel/" + _package_dir(item) + "/" + package_name(item)
        self.add_package(path, self.ctx.catalogue.package(item), item.key, item.knobs)
        self.paths[item.key] = path

    def add_package(self, path: str, content: ZipContent, owner: str, knobs: Knobs) -> None:
        faults = faults_for(knobs, content)
        faults.url_lifetime = self.lifetime(knobs)
        spec = FileSpec(path, content, content_type="application/zip")
        self.ctx.files.add(spec, faults)
        self.ctx.owners[path] = owner

    def lifetime(self, knobs: Knobs) -> float:
        if knobs.url_lifetime is not None:
            return knobs.url_lifetime
        return self.ctx.scenario.settings.url_lifetime

    async def signed_url(self, request: web.Request, path: str, knobs: Knobs) -> str:
        """A fresh signed URL of `path`, once its package's headers can be served."""
        content = self.ctx.files.spec(path).content
        if isinstance(content, ZipContent):
            # CRC-32s of large members take a while: not on the event loop.
            await asyncio.to_thread(content.prepare)
        origin = str(request.url.origin())
        return self.ctx.files.signed_url(origin, path, self.lifetime(knobs))

    def download_id(self, *identity: str) -> str:
        seed = str(self.ctx.scenario.settings.seed)
        digest = hashlib.sha256("\0".join([seed, *identity]).encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        key = self.ctx.scenario.settings.pixxel_api_key
        given = request.headers.get("Authorization")
        if given not in (key, f"Bearer {key}"):
            return pixxel_error(403, "missing or invalid API key")
        response: web.StreamResponse = await handler(request)
        return response

    def _model(self, request: web.Request) -> JobModel | None:
        return self.jobs.get((request.match_info["wf"], request.match_info["job"]))

    async def get_job(self, request: web.Request) -> web.StreamResponse:
        model = self._model(request)
        if model is None:
            return pixxel_error(404, "job not found")
        blocked = admit(self.ctx, model.key, model.knobs, pixxel_error)
        if blocked is not None:
            return blocked
        polls = self.states.count_answer(model)
        return answer(self.ctx, model.key, model.knobs, self.states.detail(model, polls))

    async def list_jobs(self, request: web.Request) -> web.StreamResponse:
        """Every job of the workflow (no paging), each listing counted as a status answer.

        The list names no single item: no `api_calls`, no throttle, no item's spoiling
        (`[emulator] job_list_malformed` spoils every list).
        """
        if not self.ctx.scenario.settings.job_lists:
            return pixxel_error(404, "not found")
        workflow = request.match_info["wf"]
        wanted = wanted_statuses(request.query.getall("status", []))
        listed = []
        for model in self.jobs.values():
            if model.job.workflow_id != workflow:
                continue
            if wanted is not None and self.states.upcoming_status(model) not in wanted:
                continue
            listed.append(self.states.summary(model, self.states.count_listing(model)))
        mode = self.ctx.scenario.settings.job_list_malformed
        if mode is not None:  # `[emulator] job_list_malformed`
            bad = spoil({"jobs": listed}, mode, "jobs")
            return web.Response(
                status=bad.status, body=bad.body, headers={"Content-Type": bad.content_type}
            )
        return web.json_response({"jobs": listed})

    async def download_job(self, request: web.Request) -> web.StreamResponse:
        model = self._model(request)
        if model is None:
            return pixxel_error(404, "job not found")
        blocked = admit(self.ctx, model.key, model.knobs, pixxel_error)
        if blocked is not None:
            return blocked
        stats = self.ctx.item(model.key)
        stats.package_requests += 1
        status = self.states.status(model, stats.job_polls)
        if status != "completed":
            return pixxel_error(400, f"job {model.job.job_id} is {status}; nothing to download")
        ready = model.job.ready if model.explicit else Timing()
        body = {"id": self.download_id(model.key), "status": "pending", "signed_url": ""}
        body["workflowId"] = model.job.workflow_id
        if self.ctx.ready_after_request(model.key, ready):
            url = await self.signed_url(request, self.paths[model.key], model.knobs)
            body.update(status="ready", signed_url=url)
        return answer(self.ctx, model.key, model.knobs, body)

    async def download_task(self, request: web.Request) -> web.StreamResponse:
        model = self._model(request)
        wanted = request.match_info["task"]
        task = next((t for t in model.tasks if t.task_id == wanted), None) if model else None
        if model is None or task is None:
            return pixxel_error(404, "task not found")
        blocked = admit(self.ctx, task.key, task.knobs, pixxel_error)
        if blocked is not None:
            return blocked
        self.ctx.item(task.key).package_requests += 1
        polls = self.ctx.item(model.key).job_polls
        view = next(v for v in self.states.views(model, polls)[0] if v.task is task)
        if view.status != "completed":
            return pixxel_error(400, f"task {task.task_id} is {view.status}; nothing to download")
        body = {
            "id": task.task_id,
            "job_id": task.job_id,
            "workflow_id": task.workflow_id,
            "status": "pending",
            "signed_url": "",
        }
        if self.ctx.ready_after_request(task.key, task.ready):
            url = await self.signed_url(request, self.paths[task.key], task.knobs)
            body.update(status="ready", signed_url=url)
        return answer(self.ctx, task.key, task.knobs, body)


def _package_dir(item: PixxelJob | PixxelTask | PixxelDownload) -> str:
    if isinstance(item, PixxelJob):
        return f"jobs/{item.workflow_id}/{item.job_id}"
    if isinstance(item, PixxelTask):
        return f"tasks/{item.workflow_id}/{item.job_id}/{item.task_id}"
    return f"{item.kind.replace('_', '-')}s/{item.id}"
