"""Plain URL items (`http:file`): no platform, the URL goes straight to the engine."""

from __future__ import annotations

from urllib.parse import urlsplit

from downloader.items import ItemRef
from downloader.providers._http_steps import http_step
from downloader.providers._steps import Fail
from downloader.providers._turn import Turn
from downloader.providers._types import JobSurvey, Package, PackageMemo, PhaseListener
from downloader.transfer import AssetRequest
from downloader.transfer._answers import promised_type
from downloader.transfer._digests import parse_caller_digest

__all__ = ["HttpProvider"]


class HttpProvider:
    """`http:file` items: one asset, the item's URL, checked against its sha256 if given.

    A plain URL cannot be renewed: when it expires the item fails, and the
    watchlist entry needs a fresh one.
    """

    name = "http"
    survey: JobSurvey | None = None

    async def prepare(
        self, item: ItemRef, memo: PackageMemo, events: PhaseListener, turn: Turn | None = None
    ) -> Package:
        step = http_step(item, {}, None)
        if isinstance(step, Fail):
            raise step.kind(step.message)
        assert step.url is not None  # a plain URL item's one file
        digests = (parse_caller_digest("sha256", item.sha256),) if item.sha256 else ()
        name = item.ids[0].rsplit("/", 1)[-1]
        asset = AssetRequest(
            key=f"{item.key}#0",
            url=step.url,
            expected_digests=digests,
            fallback_name=name or "download",
            # with no digest to check, the URL's file name is the only promise: an error
            # page answering for `scene.tif` is not archived as it
            media_type=None if digests else promised_type(None, _file_name(step.url)),
        )
        return Package((asset,), None, "plain URL")


def _file_name(url: str) -> str | None:
    """The last segment of `url`'s path, if the URL can be read."""
    try:
        return urlsplit(url).path.rsplit("/", 1)[-1] or None
    except ValueError:
        return None
