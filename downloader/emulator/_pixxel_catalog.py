"""Pixxel catalog downloads: `POST /v0/catalogs/download`, `GET .../download/{id}`.

A POST names exactly one non-empty list, `catalog_ids` or `order_item_ids`, and
creates a download resource (`created`); its status GETs answer `in_progress`
until the first item's `ready` timing is over, then `success` with a freshly
signed URL (or `failed` when an item has a `fail`).  A download of one item serves
that item's package; one of several items gets a ZIP of all their files, each
under a folder named by its id.  An order item not fulfilled yet is refused (400).
Every creation is counted per item.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web

from downloader.emulator._respond import admit, answer
from downloader.emulator._scenario import DownloadKind, PixxelDownload
from downloader.emulator._state import has_elapsed
from downloader.emulator._zip import ZipContent

if TYPE_CHECKING:
    from downloader.emulator._pixxel import PixxelApi


def pixxel_error(status: int, message: str) -> web.Response:
    """Pixxel's error answer."""
    code = HTTPStatus(status).phrase.upper().replace(" ", "_")
    body = {"error": {"code": code, "message": message, "details": None}}
    return web.json_response(body, status=status)


@dataclass
class CatalogDownload:
    """One download resource created by a POST."""

    id: str
    items: list[PixxelDownload]
    path: str
    created_at: float
    polls: int = 0


class CatalogDownloads:
    """The catalog-download endpoints and the resources they created."""

    def __init__(self, api: PixxelApi) -> None:
        self.api = api
        self.created: dict[str, CatalogDownload] = {}
        self.items = {(d.kind, d.id): d for d in api.ctx.scenario.pixxel_downloads}

    async def create(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return pixxel_error(400, "request body is not JSON")
        wanted = _requested(body)
        if isinstance(wanted, str):
            return _bad_request(wanted, body)
        kind, ids = wanted
        items = []
        for item_id in ids:
            item = self.items.get((kind, item_id))
            if item is None:
                return pixxel_error(404, f"{kind} {item_id} not found")
            items.append(item)
        first = items[0]
        for item in items:
            blocked = admit(self.api.ctx, item.key, item.knobs, pixxel_error)
            if blocked is not None:
                return blocked
        for item in items:
            refused = self.api.orders.refusal(item) if kind is DownloadKind.ORDER_ITEM else None
            if refused is not None:
                return refused
        for item in items:
            self.api.ctx.item(item.key).downloads_created += 1
        number = len(self.created) + 1
        download_id = self.api.download_id("catalog-download", str(number))
        if len(items) == 1:
            path = self.api.paths[first.key]
        else:
            members = []
            for item in items:
                members += self.api.ctx.catalogue.members(item, prefix=f"{item.id}/")
            path = f"/files/pixxel/downloads/{download_id}.zip"
            self.api.add_package(path, ZipContent(members), first.key, first.knobs)
        now = self.api.ctx.clock()
        self.created[download_id] = CatalogDownload(download_id, items, path, now)
        reply = {"id": download_id, "signed_url": "", "status": "created"}
        return answer(self.api.ctx, first.key, first.knobs, reply, status=201)

    async def status(self, request: web.Request) -> web.StreamResponse:
        download = self.created.get(request.match_info["id"])
        if download is None:
            return pixxel_error(404, "download not found")
        first = download.items[0]
        blocked = admit(self.api.ctx, first.key, first.knobs, pixxel_error)
        if blocked is not None:
            return blocked
        for item in download.items:
            self.api.ctx.item(item.key).package_requests += 1
        download.polls += 1
        now = self.api.ctx.clock()
        reply: dict[str, Any] = {"id": download.id, "signed_url": "", "status": "in_progress"}
        if has_elapsed(first.ready, download.polls, download.created_at, now):
            if any(item.fail is not None for item in download.items):
                reply["status"] = "failed"
            else:
                url = await self.api.signed_url(request, download.path, first.knobs)
                reply.update(status="success", signed_url=url)
        elif download.polls == 1:
            reply["status"] = "created"
        return answer(self.api.ctx, first.key, first.knobs, reply)


def _requested(body: Any) -> tuple[DownloadKind, list[str]] | str:
    """The id list a POST body names, or what is wrong with it."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    given = []
    for kind, key in (
        (DownloadKind.CATALOG, "catalog_ids"),
        (DownloadKind.ORDER_ITEM, "order_item_ids"),
    ):
        value = body.get(key)
        if value is None or value == []:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return f"{key} must be a list of ids"
        given.append((kind, list(value)))
    if len(given) != 1:
        return "exactly one of catalog_ids and order_item_ids must be a non-empty list"
    return given[0]


def _bad_request(message: str, body: Any) -> web.Response:
    details = {"received_keys": sorted(body) if isinstance(body, dict) else []}
    reply = {"error": {"code": "BAD_REQUEST", "message": message, "details": details}}
    return web.json_response(reply, status=400)
