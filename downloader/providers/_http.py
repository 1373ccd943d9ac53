"""Plain URL items (`http:file`): no platform, the URL goes straight to the engine."""

from __future__ import annotations

from urllib.parse import urlsplit

from downloader.errors import ProviderError
from downloader.items import ItemRef
from downloader.providers._types import Package, PackageMemo, PhaseListener
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

    async def prepare(self, item: ItemRef, memo: PackageMemo, events: PhaseListener) -> Package:
        if item.provider != self.name or item.kind != "file":
            raise ProviderError(f"{item.key} is not a plain URL item")
        if item.url is None:
            raise ProviderError(f"{item.key} has no URL")
        digests = (parse_caller_digest("sha256", item.sha256),) if item.sha256 else ()
        name = item.ids[0].rsplit("/", 1)[-1]
        asset = AssetRequest(
            key=f"{item.key}#0",
            url=item.url,
            expected_digests=digests,
            fallback_name=name or "download",
            # with no digest to check, the URL's file name is the only promise: an error
            # page answering for `scene.tif` is not archived as it
            media_type=None if digests else promised_type(None, _file_name(item.url)),
        )
        return Package((asset,), None, "plain URL")


def _file_name(url: str) -> str | None:
    """The last segment of `url`'s path, if the URL can be read."""
    try:
        return urlsplit(url).path.rsplit("/", 1)[-1] or None
    except ValueError:
        return None
