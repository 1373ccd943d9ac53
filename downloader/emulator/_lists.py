"""What the emulator's lists share: who is listed yet, creation times, refused pages,
and the two lists that only sources read.

- `visible`: an item with `listed_after = N` is in no list until N seconds after
  the emulator started (a job added to the platform while a client runs).
- `created`: the creation time a list reports (`created_at`, else the start).
- `pause`: every list answer takes `list_delay` seconds.
- `refuse`: the first `list_failures` list requests (all four lists together)
  are answered 503 with `list_retry_after`.
- `offset_page`: `offset`/`limit` paging as Pixxel and Alteryx do it.
- Pixxel `GET /v0/order-items?order_ids=A,B&offset=&limit=` (`order_items_list`):
  the order items of those orders, in id order, `{"order_items", "pagination"}`;
  each listed item counts as a listing (`listed`), not as a status answer.
- Alteryx `GET /v3/workflows/{id}/jobs?sortField=createDate&direction=desc&offset=
  &limit=` (`alteryx_jobs_list`): a bare array of `WorkflowJobView`s of the jobs
  whose `app_id` is the workflow, ascending by creation time and id unless
  `direction=desc`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from downloader.emulator._scenario import Knobs
from downloader.emulator._state import Context, iso

__all__ = ["created", "offset_page", "pause", "refuse", "visible"]

T = TypeVar("T")
ErrorMaker = Callable[[int, str], web.Response]


def visible(ctx: Context, knobs: Knobs) -> bool:
    """Whether lists show an item with `knobs` yet."""
    return ctx.clock() - ctx.born >= knobs.listed_after


def created(ctx: Context, knobs: Knobs) -> str:
    return knobs.created_at or iso(ctx.born)


async def pause(ctx: Context) -> None:
    """Take `list_delay` seconds, as a slow list does."""
    if ctx.scenario.settings.list_delay > 0:
        await asyncio.sleep(ctx.scenario.settings.list_delay)


def refuse(ctx: Context, error: ErrorMaker) -> web.Response | None:
    """A 503 for this list request while `list_failures` are not used up."""
    settings = ctx.scenario.settings
    if ctx.lists_refused >= settings.list_failures:
        return None
    ctx.lists_refused += 1
    response = error(503, "list temporarily unavailable")
    response.headers["Retry-After"] = settings.list_retry_after
    return response


def offset_page(request: web.Request, rows: Sequence[T], default_limit: int) -> list[T] | None:
    """The rows `offset` and `limit` ask for; None when they are not numbers."""
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", str(default_limit)))
    except ValueError:
        return None
    if offset < 0 or limit < 0:
        return None
    return list(rows[offset : offset + limit])


def order_items_list(
    ctx: Context, request: web.Request, items: Sequence[Any], body: Callable[[Any], dict[str, Any]]
) -> web.Response:
    """`GET /v0/order-items`; `items` are the scenario's order items, `body` their answer."""
    from downloader.emulator._pixxel_catalog import pixxel_error

    if not ctx.scenario.settings.order_item_lists:
        return pixxel_error(404, "not found")
    refused = refuse(ctx, pixxel_error)
    if refused is not None:
        return refused
    wanted = {o for raw in request.query.getall("order_ids", []) for o in raw.split(",") if o}
    rows = [
        item
        for item in sorted(items, key=lambda i: i.id)
        if (not wanted or order_of(item) in wanted) and visible(ctx, item.knobs)
    ]
    page = offset_page(request, rows, 10)
    if page is None:
        return pixxel_error(400, "offset and limit must be non-negative integers")
    listed = []
    for item in page:
        ctx.item(item.key).listed += 1
        listed.append({**body(item), "created_at": created(ctx, item.knobs)})
    offset = int(request.query.get("offset", "0"))
    limit = int(request.query.get("limit", "10"))
    paging = {"limit": limit, "offset": offset, "total": len(rows)}
    return web.json_response({"order_items": listed, "pagination": paging})


def order_of(item: Any) -> str:
    return item.order.order_id or f"order-of-{item.id}"


def _alteryx_status(ctx: Context, job: Any) -> str:
    """Where the job stands, as its next status answer would say (nothing counted)."""
    stats = ctx.stats.get(job.key)
    polls = (0 if stats is None else stats.job_polls) + 1
    if not ctx.peek_done(job.key, job.done, polls):
        return "Running" if polls > 1 else "Queued"
    return "Cancelled" if job.cancel else "Completed"


def alteryx_jobs_list(
    ctx: Context, request: web.Request, jobs: Sequence[Any], error: ErrorMaker
) -> web.Response:
    """`GET /v3/workflows/{id}/jobs`: a bare array, paged by offset and limit."""
    if not ctx.scenario.settings.alteryx_job_lists:
        return error(404, "Workflow not found.")
    refused = refuse(ctx, error)
    if refused is not None:
        return refused
    workflow = request.match_info["id"]
    rows = [j for j in jobs if j.app_id == workflow and visible(ctx, j.knobs)]
    rows.sort(key=lambda j: (created(ctx, j.knobs), j.id))
    if request.query.get("direction", "asc").lower() == "desc":
        rows.reverse()
    page = offset_page(request, rows, 1000)
    if page is None:
        return error(400, "offset and limit must be non-negative integers")
    listed = []
    for job in page:
        ctx.item(job.key).listed += 1
        listed.append(
            {
                "id": job.id,
                "createDate": created(ctx, job.knobs),
                "status": _alteryx_status(ctx, job),
                "priority": "Default",
                "workerTag": "",
                "runWithE2": False,
            }
        )
    return web.json_response(listed)
