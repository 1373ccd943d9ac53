"""A webhook receiver, as an operator's ingest service would run one: `POST /hooks/events`.

It keeps every event it is sent (its `Idempotency-Key` and JSON document), and
answers 204, except the first `[emulator] hook_failures` POSTs, which get 503:
a receiver that is down for a while, so a client's retries show.  What it got is
at `/_emulator/hooks`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["HookReceiver", "ReceivedEvent"]


@dataclass(frozen=True)
class ReceivedEvent:
    """One POST the receiver got."""

    idempotency_key: str | None
    document: Any
    status: int
    """What it answered: 204, or 503 while it was failing on purpose."""


@dataclass
class HookReceiver:
    """The receiver of one emulator; `failures` POSTs are refused before any is taken."""

    failures: int = 0
    received: list[ReceivedEvent] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/events", self._receive)
        return app

    def accepted(self) -> list[ReceivedEvent]:
        """The POSTs answered 204."""
        return [event for event in self.received if event.status == 204]

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            document = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="not JSON")
        status = 503 if len(self.received) < self.failures else 204
        self.received.append(
            ReceivedEvent(request.headers.get("Idempotency-Key"), document, status)
        )
        if status == 503:
            return web.Response(status=503, text="ingest is down for maintenance")
        return web.Response(status=204)

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {"idempotency_key": e.idempotency_key, "status": e.status, "document": e.document}
            for e in self.received
        ]
