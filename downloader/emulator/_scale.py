"""The Scale API: v6 (`/v6/jobs/`, `/v6/jobs/{id}/`, `/v6/files/`, `/v6/files/{id}/`)
and legacy 3.x (`/jobs/`, `/jobs/{id}/`).

Mounted twice: at `/scale` with both families (a v6 server that still answers
the old paths) and at `/scale-legacy` with only the legacy ones (a 3.x server).
With a token configured, requests need `Authorization: Token <tok>`; otherwise
401 with DRF's `{"detail": ...}` (plain text on legacy paths).  Job and file
lists are paginated DRF-style with absolute `next`/`previous` URLs (`_drf`).
File URLs point at the file host and are not signed, unless the job has a
`url_lifetime`: then they are signed to expire (as a workspace on object storage
gives them), and each file list or file answer signs them afresh.

`GET /v6/jobs/` lists jobs in id order as list items (no detail-only fields),
filtered by `job_id` (repeatable integers; anything else is a 400) and `status`
(repeatable, exact upper-case words).  Each job on the page served counts as one
status answer (`job_polls`, as a job GET, and `listed`); jobs filtered out or on
other pages are not counted, and the list names no item (no `api_calls`, no
throttle, no spoiling).  With `job_lists = false` in the scenario it is a 404.
The 3.x `GET /jobs/` is the same list, paged the same way, with plain-text errors.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from downloader.emulator._corrupt import faults_for
from downloader.emulator._drf import drf_error, paginate
from downloader.emulator._filespec import FileSpec
from downloader.emulator._respond import ErrorMaker, admit, answer
from downloader.emulator._scale_model import (
    ProductFile,
    build_files,
    job_status,
    legacy_file,
    legacy_job,
    v6_file,
    v6_job,
    v6_job_summary,
)
from downloader.emulator._scenario import ScaleJob
from downloader.emulator._state import Context


def text_error(status: int, message: str) -> web.Response:
    """The 3.x API's plain-text error answer."""
    return web.Response(status=status, text=message, content_type="text/plain")


class ScaleApi:
    """Handlers and state of the Scale emulation (shared by both mounts)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.jobs = {job.id: job for job in ctx.scenario.scale_jobs}
        self.files = build_files(ctx.scenario)
        for product in self.files:
            content = ctx.catalogue.file_content(product.job, product.entry)
            spec = FileSpec(product.host_path, content, content_type=product.entry.media_type)
            faults = faults_for(product.job.knobs, content)
            if product.job.knobs.url_lifetime is not None:
                faults.url_lifetime = product.job.knobs.url_lifetime
            ctx.files.add(spec, faults)
            ctx.owners[product.host_path] = product.job.key

    def app(self, *, legacy_only: bool) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        if not legacy_only:
            app.router.add_get("/v6/jobs/", self.v6_jobs)
            app.router.add_get("/v6/jobs/{id}/", self.v6_job)
            app.router.add_get("/v6/files/", self.v6_files)
            app.router.add_get("/v6/files/{id}/", self.v6_file)
        app.router.add_get("/jobs/", self.legacy_jobs)
        app.router.add_get("/jobs/{id}/", self.legacy_job)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        token = self.ctx.scenario.settings.scale_token
        if token is not None:
            error = drf_error if request.path.split("/")[2:3] == ["v6"] else text_error
            given = request.headers.get("Authorization")
            if given is None:
                return _challenge(error(401, "Authentication credentials were not provided."))
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "token" or value.strip() != token:
                return _challenge(error(401, "Invalid token."))
        response: web.StreamResponse = await handler(request)
        return response

    def _job(self, request: web.Request) -> ScaleJob | None:
        try:
            return self.jobs.get(int(request.match_info["id"]))
        except ValueError:
            return None

    def _look(self, job: ScaleJob) -> tuple[str, float, float]:
        """Count a status GET of `job`: its status now, when it started, and now."""
        stats = self.ctx.item(job.key)
        stats.job_polls += 1
        done = self.ctx.is_done(job.key, job.done, stats.job_polls)
        now = self.ctx.clock()
        return job_status(job, done, stats.job_polls), stats.first_seen or now, now

    def _upcoming(self, job: ScaleJob) -> str:
        """The status `job`'s next status answer will report; nothing is counted or marked."""
        stats = self.ctx.stats.get(job.key)
        polls = (0 if stats is None else stats.job_polls) + 1
        return job_status(job, self.ctx.peek_done(job.key, job.done, polls), polls)

    def _completed(self, job: ScaleJob) -> bool:
        """Whether `job` has completed, judged as its next status GET would (uncounted)."""
        polls = self.ctx.item(job.key).job_polls + 1
        done = self.ctx.is_done(job.key, job.done, polls)
        return job_status(job, done, polls) == "COMPLETED"

    def _url(self, request: web.Request, product: ProductFile) -> str | None:
        if product.job.null_url:
            return None
        origin = str(request.url.origin())
        lifetime = product.job.knobs.url_lifetime
        if lifetime is not None:
            return self.ctx.files.signed_url(origin, product.host_path, lifetime)
        return origin + quote(product.host_path)

    def _gate(self, job: ScaleJob, error: ErrorMaker) -> web.Response | None:
        return admit(self.ctx, job.key, job.knobs, error)

    async def v6_job(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        if job is None:
            return drf_error(404, "Not found.")
        blocked = self._gate(job, drf_error)
        if blocked is not None:
            return blocked
        status, started, now = self._look(job)
        files = [f for f in self.files if f.job is job] if status == "COMPLETED" else []
        return answer(self.ctx, job.key, job.knobs, v6_job(job, status, files, started, now))

    async def v6_jobs(self, request: web.Request) -> web.StreamResponse:
        return self._job_list(request, drf_error)

    async def legacy_jobs(self, request: web.Request) -> web.StreamResponse:
        return self._job_list(request, text_error)

    def _job_list(self, request: web.Request, error: ErrorMaker) -> web.StreamResponse:
        if not self.ctx.scenario.settings.job_lists:
            return error(404, "Not found.")
        try:
            ids = {int(raw) for raw in request.query.getall("job_id", [])}
        except ValueError:
            return error(400, 'Parameter must be a valid integer: "job_id"')
        statuses = set(request.query.getall("status", []))
        settings = self.ctx.scenario.settings
        rows = [
            job
            for _, job in sorted(self.jobs.items())
            if (not ids or job.id in ids) and (not statuses or self._upcoming(job) in statuses)
        ]
        page = paginate(request, rows, settings.page_size, settings.scale_next_origin)
        if page is None:
            return error(404, "Invalid page.")
        results = []
        for job in page.rows:
            status, started, now = self._look(job)
            self.ctx.item(job.key).listed += 1
            results.append(v6_job_summary(job, status, started, now))
        return web.json_response(page.body(results))

    async def v6_file(self, request: web.Request) -> web.StreamResponse:
        wanted = request.match_info["id"]
        product = next((f for f in self.files if str(f.id) == wanted), None)
        if product is None or not self._completed(product.job):
            return drf_error(404, "Not found.")
        blocked = self._gate(product.job, drf_error)
        if blocked is not None:
            return blocked
        body = v6_file(product, self._url(request, product), self.ctx.clock())
        return answer(self.ctx, product.job.key, product.job.knobs, body, key_field="url")

    async def v6_files(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        job_ids = query.getall("job_id", [])
        named = [self.jobs.get(int(i)) for i in job_ids if i.isdigit()]
        rows = [
            f
            for f in self.files
            if (not job_ids or str(f.job.id) in job_ids)
            and query.get("file_type", "PRODUCT") == "PRODUCT"
            and query.get("job_output", f.entry.output) == f.entry.output
            and query.get("file_name", f.entry.name) == f.entry.name
            and self._completed(f.job)
        ]
        job = named[0] if len(named) == 1 else None
        settings = self.ctx.scenario.settings
        if job is not None:
            blocked = self._gate(job, drf_error)
            if blocked is not None:
                return blocked
        page = paginate(request, rows, settings.page_size, settings.scale_next_origin)
        if page is None:
            return drf_error(404, "Invalid page.")
        now = self.ctx.clock()
        body = page.body([v6_file(f, self._url(request, f), now) for f in page.rows])
        if job is None:
            return web.json_response(body)
        return answer(self.ctx, job.key, job.knobs, body, key_field="results")

    async def legacy_job(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        if job is None:
            return text_error(404, "Not found")
        blocked = self._gate(job, text_error)
        if blocked is not None:
            return blocked
        status, started, now = self._look(job)
        products = []
        if status == "COMPLETED":
            for product in (f for f in self.files if f.job is job):
                obj = legacy_file(product, self._url(request, product), now)
                products.append((product.entry.output, obj))
        body = legacy_job(job, status, products, started, now)
        return answer(self.ctx, job.key, job.knobs, body)


def _challenge(response: web.Response) -> web.Response:
    response.headers["WWW-Authenticate"] = 'Token realm="api"'
    return response
