"""The Alteryx adapter: a finished job's outputs, each fetched with a bearer token.

`GET /v3/jobs/{id}?includeMessages=false` until Completed or Cancelled (a job's
messages can be many, and they are asked for once, at the end, from
`GET /v3/jobs/{id}/messages`).  Completed is not success: the job fails when its
disposition is not one of `accept_dispositions` (`Success` and `Warning` by
default), and its error messages become the item's error.  Otherwise its messages,
every severity, go into the bag as `alteryx-messages.json`, and its warnings are
logged.  Only Curators may read messages: a refusal is logged and the job goes on
without them.  Each output is then fetched
by the engine from `GET /v1/jobs/{id}/output/{outputId}?format=..` (the
configured format, else Raw when offered, else the first one offered), with the
current token asked for before every request and renewed through `refresh_url`
when the server answers 401 (the engine calls it then).  The file's name comes
from the answer's Content-Disposition, else from the output's `fileName`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from urllib.parse import quote, urlencode

import structlog

from downloader.errors import ProviderError
from downloader.items import ItemRef
from downloader.providers._alteryx_steps import alteryx_step
from downloader.providers._api import ApiClient
from downloader.providers._oauth import TokenSource
from downloader.providers._parse_alteryx import (
    WARNING_SEVERITY,
    AlteryxJob,
    Message,
    Output,
    choose_format,
    render_messages,
)
from downloader.providers._poll import PhaseTracker, Poller
from downloader.providers._steps import Drive, Route
from downloader.providers._turn import Parked, Turn
from downloader.providers._types import JobSurvey, Package, PackageMemo, PhaseListener
from downloader.transfer import AssetRequest
from downloader.transfer._answers import promised_type

__all__ = ["AlteryxProvider"]

log = structlog.get_logger("downloader.providers")

MESSAGES_TAG_FILE = "alteryx-messages.json"


def _q(segment: str) -> str:
    return quote(segment, safe="")


class AlteryxProvider:
    """An Alteryx Server `webapi`; `api` authenticates with `tokens`."""

    name = "alteryx"
    survey: JobSurvey | None = None

    def __init__(
        self,
        api: ApiClient,
        tokens: TokenSource,
        pollers: Callable[[ItemRef], Poller],
        drive: Drive,
        *,
        output_format: str | None = None,
        accept_dispositions: Collection[str] = ("Success", "Warning"),
    ) -> None:
        self.api = api
        self.tokens = tokens
        self.output_format = output_format
        self.accept_dispositions = tuple(accept_dispositions)
        self._pollers = pollers
        self._drive = drive

    async def prepare(
        self, item: ItemRef, memo: PackageMemo, events: PhaseListener, turn: Turn | None = None
    ) -> Package | Parked:
        """Wait for the job; its outputs as a `Package` (one asset per output)."""
        if item.provider != self.name or item.kind != "job":
            raise ProviderError(f"{item.key} is not an Alteryx job")
        job_id = item.ids[0]
        machine = functools.partial(alteryx_step, item, accept=self.accept_dispositions)
        bound = log.bind(provider=self.name, item=item.key)
        route = Route(self.api, self._pollers(item), memo, PhaseTracker(events), log=bound)
        ready = await self._drive(machine, route, turn)
        if isinstance(ready, Parked):
            return ready
        job: AlteryxJob = ready.extra["job"]
        messages: tuple[Message, ...] | None = ready.extra["messages"]
        for message in messages or ():
            if (message.severity or 0) >= WARNING_SEVERITY:
                log.warning(
                    "provider.job_warning",
                    provider=self.name,
                    item=item.key,
                    disposition=job.disposition,
                    tool_id=message.tool_id,
                    text=self.api.clean(message.text),
                )
        if not job.outputs:
            raise ProviderError(f"Alteryx job {job_id} completed without outputs")
        assets = tuple(self._asset(item, job_id, output) for output in job.outputs)
        log.info("provider.package_ready", provider=self.name, item=item.key, assets=len(assets))
        tags = () if messages is None else ((MESSAGES_TAG_FILE, render_messages(messages)),)
        return Package(assets, None, "Alteryx job outputs", tag_files=tags)

    def _asset(self, item: ItemRef, job_id: str, output: Output) -> AssetRequest:
        fmt = choose_format(output.formats, self.output_format)
        if self.output_format and fmt.lower() != self.output_format.lower():
            log.info(
                "provider.format_unavailable",
                provider=self.name,
                item=item.key,
                output=output.id,
                wanted=self.output_format,
                used=fmt,
            )
        path = f"/v1/jobs/{_q(job_id)}/output/{_q(output.id)}"
        url = f"{self.api.url(path)}?{urlencode({'format': fmt})}"

        async def reauthenticate() -> str:
            # The output's URL never changes; what expired is the token.
            await self.tokens.renew()
            return url

        return AssetRequest(
            key=f"{item.key}#output-{output.id}",
            url=url,
            refresh_url=reauthenticate,
            headers=self.tokens.headers,
            fallback_name=output.file_name or f"output-{output.id}",
            # Raw keeps the output's own type; another format names its own suffix
            media_type=promised_type(
                None, output.file_name if fmt.lower() == "raw" else f"output.{fmt.lower()}"
            ),
            name_from_url=False,  # the path ends in the output id, not a file name
        )
