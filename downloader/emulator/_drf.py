"""What Scale v6 answers the Django REST framework way: error bodies and pages.

Pages follow Scale's `util.rest.DefaultPagination` (DRF `PageNumberPagination`):
`page` is 1-based, `page_size` is capped at 1000 and a page size DRF cannot read
is ignored; `next`/`previous` are absolute URLs of the same request, and a page
that does not exist is a 404 `Invalid page.`.  Behind a proxy that does not pass
the host name on, Django builds those links with its own address: `origin` (the
scenario's `scale_next_origin`) stands for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web
from yarl import URL

MAX_PAGE_SIZE = 1000
T = TypeVar("T")


def drf_error(status: int, message: str) -> web.Response:
    """Django REST framework's error answer."""
    return web.json_response({"detail": message}, status=status)


@dataclass(frozen=True)
class Page(Generic[T]):
    """The rows of one page and the links around it."""

    rows: list[T]
    count: int
    next: str | None
    previous: str | None

    def body(self, results: list[Any]) -> dict[str, Any]:
        """The page's answer, with `results` standing for its rows."""
        links = {"count": self.count, "next": self.next, "previous": self.previous}
        return {**links, "results": results}


def paginate(
    request: web.Request, rows: Sequence[T], default_size: int, origin: str | None = None
) -> Page[T] | None:
    """The page of `rows` the request asks for; None when there is no such page.

    Its links are on `origin` (`scheme://host:port`) when given, else the request's."""
    size = page_size(request.query.get("page_size"), default_size)
    pages = max(1, math.ceil(len(rows) / size))
    raw = request.query.get("page", "1")
    page = int(raw) if raw.isdigit() else 0
    if not 1 <= page <= pages:
        return None
    url = request.url if origin is None else URL(origin).join(request.rel_url)
    return Page(
        rows=list(rows[(page - 1) * size : page * size]),
        count=len(rows),
        next=str(url.update_query(page=page + 1)) if page < pages else None,
        previous=_previous(url, page),
    )


def page_size(raw: str | None, default: int) -> int:
    """The page size a `page_size` parameter asks for, as DRF reads it."""
    # DRF ignores a page_size it cannot read and caps one that is too large.
    if raw is None or not raw.isdigit() or int(raw) < 1:
        return default
    return min(int(raw), MAX_PAGE_SIZE)


def _previous(url: URL, page: int) -> str | None:
    if page <= 1:
        return None
    if page == 2:
        # DRF drops the parameter for the first page rather than writing page=1.
        kept = [(k, v) for k, v in url.query.items() if k != "page"]
        return str(url.with_query(kept))
    return str(url.update_query(page=page - 1))
