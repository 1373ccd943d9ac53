"""End-to-end harness for the provider adapters: the emulator, the adapters, the engine.

The emulator's clock is the adapters' `FakeClock` (plus a fixed start), so every
backoff the adapters or the engine sleep moves the platforms' time too: jobs
finish, packages become ready, signed URLs and tokens expire on the same clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from downloader.clock import FakeClock
from downloader.config import (
    AlteryxSettings,
    PixxelSettings,
    PollSettings,
    ProvidersSettings,
    ScaleSettings,
    Secret,
)
from downloader.emulator import (
    AlteryxJob,
    AlteryxMessage,
    AlteryxOutput,
    ApiRecord,
    DownloadKind,
    Emulator,
    FileEntry,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
    Settings,
    Timing,
    start_emulator,
)
from downloader.items import ItemRef
from downloader.providers import (
    MemoryMemo,
    Package,
    PackageMemo,
    PhaseListener,
    Provider,
    build_providers,
)
from downloader.runners._drive import drive
from downloader.transfer import FetchResult, TransferEngine
from tests.support.engine import make_engine

START = 1_800_000_000.0
FAST_POLL = PollSettings(initial_interval=1.0, max_interval=10.0, give_up_after=3600.0)


class Phases:
    """A `PhaseListener` that remembers every phase it was told about."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def phase(self, name: str, detail: str = "") -> None:
        self.seen.append((name, detail))


@dataclass
class World:
    """A served emulator, adapters configured for it, and a transfer engine."""

    emulator: Emulator
    clock: FakeClock
    session: aiohttp.ClientSession
    engine: TransferEngine
    root: Path
    poll: PollSettings
    settings: ProvidersSettings
    providers: dict[str, Provider] = field(default_factory=dict)

    def restart(self) -> None:
        """New adapter instances, as a restarted process would build them."""
        self.providers = build_providers(
            self.settings, self.session, self.clock, self.poll, rand=lambda: 0.5, drive=drive
        )

    async def prepare(
        self, key: str, memo: PackageMemo | None = None, events: PhaseListener | None = None
    ) -> Package:
        item = ItemRef.parse(key)
        package = await self.providers[item.provider].prepare(
            item, memo if memo is not None else MemoryMemo(), events or Phases()
        )
        assert isinstance(package, Package)  # outside a turn, every wait is slept through
        return package

    async def fetch(self, key: str, package: Package) -> list[FetchResult]:
        dest = self.root / "out" / key.replace(":", "_").replace("/", "_")
        return [await self.engine.fetch(asset, dest) for asset in package.assets]

    async def download(self, key: str, memo: PackageMemo | None = None) -> list[FetchResult]:
        return await self.fetch(key, await self.prepare(key, memo))

    def expected(self, key: str, formats: tuple[str, ...] = ()) -> list[tuple[str, int, str]]:
        files = self.emulator.expected()[key]
        if formats:
            files = [f for f in files if f.format in formats]
        return sorted((f.name, f.size, f.sha256) for f in files)

    def api_log(self, *, item: str | None = None, status: int | None = None) -> list[ApiRecord]:
        return [
            r
            for r in self.emulator.log
            if (item is None or r.item == item) and (status is None or r.status == status)
        ]

    def stats(self, key: str) -> dict[str, int]:
        return self.emulator.stats()[key]


def got(results: list[FetchResult]) -> list[tuple[str, int, str]]:
    return sorted((r.name, r.size, r.sha256) for r in results)


@contextlib.asynccontextmanager
async def world(
    root: Path,
    scenario: Scenario,
    *,
    poll: PollSettings = FAST_POLL,
    pixxel_key: str | None = None,
    auth_scheme: str = "raw",
    scale_legacy: bool = False,
    scale_token: str | None = None,
    alteryx_secret: str | None = None,
    output_format: str | None = None,
) -> AsyncIterator[World]:
    clock = FakeClock()
    emulator = Emulator(scenario, clock=lambda: START + clock.monotonic())
    given = scenario.settings
    async with (
        await start_emulator(emulator) as running,
        aiohttp.ClientSession() as session,
        make_engine(root, clock=clock) as (engine, _),
    ):
        urls = running.urls
        token = scale_token if scale_token is not None else given.scale_token
        settings = ProvidersSettings(
            pixxel=PixxelSettings(
                base_url=urls["pixxel"],
                api_key=Secret(pixxel_key or given.pixxel_api_key),
                auth_scheme="bearer" if auth_scheme == "bearer" else "raw",
            ),
            scale=ScaleSettings(
                base_url=urls["scale_legacy"] if scale_legacy else urls["scale"],
                api_version="legacy" if scale_legacy else "v6",
                token=Secret(token) if token else None,
            ),
            alteryx=AlteryxSettings(
                base_url=urls["alteryx"],
                client_id=Secret(given.alteryx_client_id),
                client_secret=Secret(alteryx_secret or given.alteryx_client_secret),
                output_format=output_format,
            ),
        )
        here = World(emulator, clock, session, engine, root, poll, settings)
        here.restart()
        yield here


# ---- one scenario with every item kind ------------------------------------------------------

AYX = "66ebd18d3d6200007e000d8c"

SCENARIO = Scenario(
    settings=Settings(page_size=1, scale_token="sc-token"),
    pixxel_jobs=(
        PixxelJob(
            "wf-1",
            "job-1",
            files=(FileEntry("scene.tif", 300_000), FileEntry("meta.json", 2048)),
            done=Timing(polls=3),
            ready=Timing(polls=2),
        ),
    ),
    pixxel_tasks=(
        PixxelTask(
            "wf-1",
            "job-2",
            "task-1",
            name="ndvi",
            files=(FileEntry("ndvi.tif", 40_000),),
            done=Timing(polls=1),
            ready=Timing(polls=1),
        ),
    ),
    pixxel_downloads=(
        PixxelDownload(
            DownloadKind.CATALOG,
            "cat-1",
            files=(FileEntry("c.tif", 30_000),),
            ready=Timing(polls=2),
        ),
        PixxelDownload(DownloadKind.ORDER_ITEM, "oi-1", files=(FileEntry("o.tif", 20_000),)),
    ),
    scale_jobs=(
        ScaleJob(
            15096,
            files=(
                FileEntry("a.kml", 1000, output="kml"),
                FileEntry("b.tif", 70_000),
                FileEntry("c.json", 10),
            ),
            done=Timing(polls=2),
        ),
    ),
    alteryx_jobs=(
        AlteryxJob(
            AYX,
            outputs=(
                AlteryxOutput("o1", "result.csv", 5000, ("Csv", "Raw")),
                AlteryxOutput("o2", "summary.yxdb", 3000, ("Yxdb",)),
            ),
            messages=(AlteryxMessage(1, "Finished running in 2 seconds", 3),),
            done=Timing(polls=2),
        ),
    ),
)

KINDS = [
    ("pixxel:job:wf-1/job-1", ()),
    ("pixxel:task:wf-1/job-2/task-1", ()),
    ("pixxel:catalog:cat-1", ()),
    ("pixxel:order_item:oi-1", ()),
    ("scale:job:15096", ()),
    ("alteryx:job:" + AYX, ("Raw", "Yxdb")),
]
