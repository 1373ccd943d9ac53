"""The Alteryx Server API (`/alteryx/webapi`): OAuth2 token, v3 job, v1 job output.

`POST /oauth2/token` takes `grant_type=client_credentials` with the client id and
secret as HTTP Basic; every other call needs `Authorization: Bearer <token>`, and
tokens die after `token_lifetime` seconds of the injected clock (then 401).  A job
is Queued, then Running, then Completed (or Cancelled); `disposition` says whether
it went well.  A job GET with `includeMessages=false` leaves its messages out;
`GET /v3/jobs/{id}/messages` answers them as a list, as one object (the swagger's
declared shape) or 403 (a caller who is no Curator), as the job's `messages_answer`
says.  Outputs are served by the file host, one file per format.
"""

from __future__ import annotations

import mimetypes
import secrets
from typing import Any
from urllib.parse import quote

from aiohttp import web

from downloader.emulator._filespec import FileSpec
from downloader.emulator._items import output_file_name
from downloader.emulator._respond import admit, answer, basic_credentials
from downloader.emulator._scenario import AlteryxJob
from downloader.emulator._state import Context, iso

_ERROR_SEVERITY = 3


def alteryx_error(status: int, message: str) -> web.Response:
    """ASP.NET Web API's error answer, as Alteryx Server sends it."""
    return web.json_response({"message": message}, status=status)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


class AlteryxApi:
    """Handlers and state of the Alteryx emulation."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.jobs = {job.id: job for job in ctx.scenario.alteryx_jobs}
        self.tokens: dict[str, float] = {}
        for job in ctx.scenario.alteryx_jobs:
            for output in job.outputs:
                for fmt in output.formats:
                    path = self.output_path(job, output.id, fmt)
                    name = output_file_name(output, fmt)
                    spec = FileSpec(
                        path,
                        ctx.catalogue.output_content(job, output, fmt),
                        content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                        content_disposition=attachment(name),
                    )
                    ctx.files.add(spec, job.knobs.file_faults())
                    ctx.owners[path] = job.key

    @staticmethod
    def output_path(job: AlteryxJob, output_id: str, fmt: str) -> str:
        return f"/files/alteryx/{job.id}/{output_id}/{fmt}"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/oauth2/token", self.token)
        app.router.add_get("/v3/jobs/{id}", self.get_job)
        app.router.add_get("/v3/jobs/{id}/messages", self.get_messages)
        app.router.add_get("/v1/jobs/{id}/output/{output}", self.get_output)
        return app

    async def token(self, request: web.Request) -> web.StreamResponse:
        settings = self.ctx.scenario.settings
        client = basic_credentials(request.headers.get("Authorization"))
        if client != (settings.alteryx_client_id, settings.alteryx_client_secret):
            response = _oauth_error(401, "invalid_client", "client authentication failed")
            response.headers["WWW-Authenticate"] = 'Basic realm="webapi"'
            return response
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "use client_credentials")
        token = secrets.token_urlsafe(32)
        if settings.token_line_break:  # a broken server: no client can send this back
            token = f"{token[:16]}\r\n{token[16:]}"
        self.tokens[token] = self.ctx.clock() + settings.token_lifetime
        body = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(settings.token_lifetime),
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.endswith("/oauth2/token"):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            expires = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if expires is None or self.ctx.clock() >= expires:
                response = alteryx_error(401, "Authorization has been denied for this request.")
                response.headers["WWW-Authenticate"] = 'Bearer realm="webapi"'
                return response
        result: web.StreamResponse = await handler(request)
        return result

    def _state(self, job: AlteryxJob, polls: int) -> tuple[str, str]:
        """(status, disposition) of `job` after `polls` status answers."""
        if not self.ctx.is_done(job.key, job.done, polls):
            return ("Queued" if polls <= 1 else "Running"), "None"
        if job.cancel:
            return "Cancelled", "Cancelled"
        return "Completed", "Error" if job.fail is not None else job.disposition

    async def get_job(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return alteryx_error(404, "Job not found.")
        blocked = admit(self.ctx, job.key, job.knobs, alteryx_error)
        if blocked is not None:
            return blocked
        stats = self.ctx.item(job.key)
        stats.job_polls += 1
        status, disposition = self._state(job, stats.job_polls)
        messages = self._messages(job, status)
        outputs = []
        if status == "Completed":
            outputs = [
                {"id": o.id, "availableFormats": list(o.formats), "fileName": o.file_name}
                for o in job.outputs
            ]
        body: dict[str, Any] = {
            "id": job.id,
            "appId": job.app_id,
            "createDateTime": iso(stats.first_seen or self.ctx.clock()),
            "status": status,
            "disposition": disposition,
            "outputs": outputs,
            "messages": messages,
            "priority": "Default",
            "workerTag": "",
            "runWithE2": False,
        }
        if request.query.get("includeMessages", "true").lower() == "false":
            del body["messages"]
        else:
            stats.polls_with_messages += 1
        return answer(self.ctx, job.key, job.knobs, body)

    def _messages(self, job: AlteryxJob, status: str) -> list[dict[str, Any]]:
        messages = [{"status": m.status, "text": m.text, "toolId": m.tool_id} for m in job.messages]
        if status == "Completed" and job.fail is not None:
            messages.append({"status": _ERROR_SEVERITY, "text": job.fail, "toolId": 0})
        return messages

    async def get_messages(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return alteryx_error(404, "Job not found.")
        blocked = admit(self.ctx, job.key, job.knobs, alteryx_error)
        if blocked is not None:
            return blocked
        stats = self.ctx.item(job.key)
        stats.messages_asked += 1
        if job.messages_answer == "forbidden":
            return alteryx_error(403, "Access to job messages is restricted to Curators.")
        messages = self._messages(job, self._state(job, stats.job_polls)[0])
        if job.messages_answer == "object":
            first = messages[0] if messages else {"status": 0, "text": "", "toolId": 0}
            return web.json_response(first)
        return web.json_response(messages)

    async def get_output(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["id"])
        wanted = request.match_info["output"]
        output = next((o for o in job.outputs if o.id == wanted), None) if job else None
        if job is None or output is None:
            return alteryx_error(404, "Output not found.")
        blocked = admit(self.ctx, job.key, job.knobs, alteryx_error)
        if blocked is not None:
            return blocked
        polls = self.ctx.item(job.key).job_polls
        if self._state(job, polls)[0] != "Completed":
            return alteryx_error(404, "The job has no output yet.")
        fmt = request.query.get("format")
        if fmt is None:
            return alteryx_error(400, "The format parameter is required.")
        if fmt not in output.formats:
            return alteryx_error(400, f"Format {fmt} is not available for output {output.id}.")
        self.ctx.item(job.key).package_requests += 1
        elsewhere = self.ctx.scenario.settings.output_redirect_host
        if elsewhere is not None:  # another origin: the same server under another name
            path = self.output_path(job, output.id, fmt)
            where = request.url.with_host(elsewhere).with_path(path).with_query(None)
            return web.Response(status=302, headers={"Location": str(where)})
        served = request.clone(rel_url=self.output_path(job, output.id, fmt))
        return await self.ctx.files.handle(served)


def attachment(name: str) -> str:
    """A `Content-Disposition` value naming `name`, safe for any characters in it."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    value = f'attachment; filename="{plain}"'
    if plain != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value
