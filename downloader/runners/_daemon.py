"""`downloader run`: the daemon, the scheduler loop run until a signal stops it.

The shell around the pure decisions of `_daemon_core`: it opens the store,
reads the watchlist, tells systemd READY=1, and then

- pings the watchdog and refreshes STATUS= at each beat of the scheduler
  (`_daemon_beat`), which beats only after a lap of its claim loop, so a hung
  loop goes quiet;
- re-reads the watchlist when a cheap `stat` says the file changed, and on
  SIGHUP together with the config;
- on SIGTERM or SIGINT says STOPPING=1, stops claiming, lets the work in flight
  drain for `service.grace_period` seconds and cancels what is left (a second
  signal cancels at once).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import anyio
import structlog
from anyio.abc import TaskStatus

from downloader.config import Settings, inspect_config
from downloader.errors import ConfigProblem
from downloader.metrics import Metrics, metrics_app, serve_metrics
from downloader.runners._compose import Service, open_service
from downloader.runners._daemon_beat import DaemonBeat
from downloader.runners._daemon_core import (
    FileStamp,
    has_changed,
    is_whole_file_failure,
    restart_keys,
)
from downloader.runners._notify import Notifier, watchdog_interval
from downloader.runners._scheduler import RUN, Scheduler
from downloader.watchlist import load_watchlist

log = structlog.get_logger("downloader.daemon")


def file_stamp(path: Path) -> FileStamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return FileStamp(st.st_mtime_ns, st.st_size, st.st_ino)


def _problem_fields(problem: ConfigProblem) -> dict[str, object]:
    return {
        "file": problem.file,
        "line": problem.line,
        "key": problem.key,
        "problem": problem.message,
    }


class Daemon:
    """One run of the daemon over an opened `Service`."""

    def __init__(
        self,
        config_path: Path,
        settings: Settings,
        service: Service,
        *,
        owner: str,
        notifier: Notifier,
        environ: Mapping[str, str] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config_path = config_path
        self.settings = settings
        self.service = service
        self.notifier = notifier
        self.stamp: FileStamp | None = None
        self.watchdog = watchdog_interval(environ)
        self.metrics = metrics
        self.beat = DaemonBeat(
            service,
            notifier,
            watchdog=self.watchdog,
            metrics=metrics,
            stopping=lambda: self.scheduler.stopping,
        )
        self.liveness = self.beat.liveness
        """What `/healthz` says (see `DaemonBeat`)."""
        self.scheduler = Scheduler(
            store=service.store,
            worker=service.worker,
            clock=service.clock,
            owner=owner,
            concurrency=settings.transfer.limits.max_concurrent,
            lease=settings.service.lease_duration,
            policy=RUN,
            heartbeat=self.beat,
            heartbeat_interval=self.beat.interval,
        )

    async def run(self) -> None:
        """Work until SIGTERM/SIGINT, then drain and return."""
        await self.service.store.release_all(self.scheduler.owner)
        async with anyio.create_task_group() as tg:
            await tg.start(self._handle_signals)
            await self.load_watchlist("start")
            log.info(
                "daemon.started",
                config=str(self.config_path),
                watchlist=str(self.settings.watchlist.path),
                owner=self.scheduler.owner,
                watchdog_interval=self.watchdog,
                pid=os.getpid(),
            )
            await self.beat.ready()
            tg.start_soon(self._watch_file)
            tg.start_soon(self.service.deliverer.run)
            tg.start_soon(self.service.catalog.run)
            await self.scheduler.run()
            tg.cancel_scope.cancel()
        log.info("daemon.stopped")

    # -- signals --------------------------------------------------------------------------

    async def _handle_signals(self, *, task_status: TaskStatus[None]) -> None:
        wanted = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        with anyio.open_signal_receiver(*wanted) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await self.reload()
                elif not self.scheduler.stopping:
                    grace = self.settings.service.grace_period
                    log.info(
                        "daemon.stopping",
                        signal=signal.Signals(signum).name,
                        grace_period=grace,
                        in_flight=len(self.scheduler.in_flight),
                    )
                    self.notifier.stopping()
                    self.scheduler.stop(grace)
                    self._next_status = 0.0  # say "stopping" at the next beat
                else:
                    log.warning("daemon.stopping_now", signal=signal.Signals(signum).name)
                    self.scheduler.cancel_all("second stop signal")

    # -- the watchlist and the config -----------------------------------------------------

    async def _watch_file(self) -> None:
        while True:
            await self.service.clock.sleep(self.settings.watchlist.check_interval)
            stamp = await anyio.to_thread.run_sync(file_stamp, self.settings.watchlist.path)
            if has_changed(self.stamp, stamp):
                await self.load_watchlist("file changed")

    async def load_watchlist(self, reason: str) -> None:
        """Read the watchlist and make its good entries the items; see the module doc."""
        path = self.settings.watchlist.path
        enabled = set(self.settings.providers.enabled) | {"http"}
        self.stamp = await anyio.to_thread.run_sync(file_stamp, path)
        parse = await anyio.to_thread.run_sync(
            lambda: load_watchlist(path, enabled_providers=enabled)
        )
        for problem in parse.problems:
            log.warning("watchlist.problem", **_problem_fields(problem))
            print(problem, file=sys.stderr)
        if is_whole_file_failure(parse):
            kept = len(self.scheduler.active_keys)
            log.error("watchlist.unusable", file=str(path), reason=reason, items_kept=kept)
            return
        result = await self.scheduler.set_watchlist(parse.items, parse.sources)
        log.info(
            "watchlist.loaded",
            file=str(path),
            reason=reason,
            items=len(parse.items),
            sources=[ref.key for ref in parse.sources],
            added=sorted(result.added),
            removed=sorted(result.removed),
            reactivated=sorted(result.reactivated),
            refused=[key for key, _ in result.refused],
            problems=len(parse.problems),
        )

    async def reload(self) -> None:
        """SIGHUP: read the config again and apply what can be applied live."""
        report = await anyio.to_thread.run_sync(inspect_config, self.config_path)
        if report.settings is None:
            for problem in report.problems:
                log.error("config.problem", **_problem_fields(problem))
                print(problem, file=sys.stderr)
            log.error(
                "daemon.reload_refused",
                config=str(self.config_path),
                problems=len(report.problems),
            )
            await self.load_watchlist("SIGHUP")
            return
        new, old = report.settings, self.settings
        pending = restart_keys(old, new)
        if pending:
            log.warning("config.restart_needed", keys=pending)
        # what a reload cannot apply keeps its running value
        self.settings = dataclasses.replace(
            new,
            archive=old.archive,
            state=old.state,
            transfer=old.transfer,
            metrics=old.metrics,
            service=dataclasses.replace(
                new.service,
                node_id=old.service.node_id,
                lease_duration=old.service.lease_duration,
            ),
        )
        if (new.providers, new.poll) != (old.providers, old.poll):
            self.service.use_providers(self.settings)
        if new.hooks != old.hooks:
            self.service.use_hooks(self.settings)
        log.info("daemon.reloaded", config=str(self.config_path), restart_needed=pending)
        await self.load_watchlist("SIGHUP")


async def run_daemon(
    config_path: Path, settings: Settings, *, environ: Mapping[str, str] | None = None
) -> None:
    """The daemon with real effects, until SIGTERM/SIGINT and its drain are over."""
    owner = f"{settings.service.node_id}:run"
    metrics = Metrics() if settings.metrics.listen is not None else None
    with Notifier(environ) as notifier, ExitStack() as serving:
        async with open_service(settings, owner, observer=metrics) as service:
            daemon = Daemon(
                config_path,
                settings,
                service,
                owner=owner,
                notifier=notifier,
                environ=environ,
                metrics=metrics,
            )
            if metrics is not None and settings.metrics.listen is not None:
                app = metrics_app(metrics.registry, daemon.liveness)
                address = serving.enter_context(serve_metrics(settings.metrics.listen, app))
                log.info("metrics.serving", url=f"http://{address[0]}:{address[1]}/metrics")
            await daemon.run()
