"""Helpers for emulator tests: a hand-moved clock and a served emulator with a client."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from downloader.emulator import Emulator, RunningEmulator, Scenario, start_emulator

START = 1_800_000_000.0


class ManualClock:
    """Unix time that moves only when a test says so."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def text(self) -> str:
        return self.raw.decode()


@dataclass
class Served:
    """A running emulator, its clock and a plain client session."""

    emulator: Emulator
    running: RunningEmulator
    session: aiohttp.ClientSession
    clock: ManualClock

    @property
    def base(self) -> str:
        return self.running.base_url

    async def call(
        self, method: str, path_or_url: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> Reply:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        async with self.session.request(method, url, headers=headers or {}, **kw) as response:
            raw = await response.read()
            return Reply(response.status, dict(response.headers), raw)


@asynccontextmanager
async def serve(scenario: Scenario, clock: ManualClock | None = None) -> AsyncIterator[Served]:
    """Run an emulator of `scenario` on loopback with a client session."""
    clock = clock or ManualClock()
    emulator = Emulator(scenario, clock=clock)
    async with (
        await start_emulator(emulator) as running,
        aiohttp.ClientSession(auto_decompress=False) as session,
    ):
        yield Served(emulator, running, session, clock)


def basic(user: str, password: str) -> str:
    """An HTTP Basic `Authorization` value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def bearer(s: Served) -> dict[str, str]:
    """The `Authorization` header of a token for the default Alteryx client of `s`."""
    reply = await s.call(
        "POST",
        "/alteryx/webapi/oauth2/token",
        headers={"Authorization": basic("ayx-id", "ayx-secret")},
        data={"grant_type": "client_credentials"},
    )
    assert reply.status == 200
    return {"Authorization": f"Bearer {reply.json['access_token']}"}
