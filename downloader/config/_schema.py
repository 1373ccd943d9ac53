"""The settings the rest of the program receives: frozen values, defaults included.

Each dataclass mirrors one table of the config file.  Every default lives here
(or, for `[transfer]`, in `downloader.transfer.Limits`/`Timeouts`), so a
`Settings()` built in code is a complete, working configuration.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from downloader.config._hooks import HookSettings
from downloader.config._secrets import Secret
from downloader.transfer import Limits, Timeouts

__all__ = [
    "AlteryxSettings",
    "ArchiveSettings",
    "MetricsSettings",
    "PixxelSettings",
    "PollSettings",
    "ProvidersSettings",
    "RetrySettings",
    "ScaleSettings",
    "ServiceSettings",
    "Settings",
    "StateSettings",
    "TransferSettings",
    "WatchlistSettings",
]

AuthScheme = Literal["raw", "bearer"]
ScaleApiVersion = Literal["v6", "legacy"]


@dataclass(frozen=True)
class ArchiveSettings:
    """`[archive]`: where finished bags go."""

    root: Path = Path("/var/lib/downloader/archive")
    extract: bool = False
    """Unpack ZIP packages into the bag (after their CRC check)."""


@dataclass(frozen=True)
class StateSettings:
    """`[state]`: the state store, `sqlite:///PATH` or `postgresql://...`."""

    url: str = "sqlite:////var/lib/downloader/state.db"


@dataclass(frozen=True)
class WatchlistSettings:
    """`[watchlist]`: the file listing what to fetch."""

    path: Path = Path("/etc/downloader/watchlist.toml")
    check_interval: float = 2.0
    """Seconds between the daemon's cheap checks (a stat) of whether the file changed."""


@dataclass(frozen=True)
class PixxelSettings:
    """`[providers.pixxel]`."""

    base_url: str = "https://api.pixxel.space"
    api_key: Secret | None = None
    auth_scheme: AuthScheme = "raw"
    """`raw` sends the key as is; `bearer` prefixes `Bearer `."""


@dataclass(frozen=True)
class ScaleSettings:
    """`[providers.scale]`."""

    base_url: str
    api_version: ScaleApiVersion = "v6"
    token: Secret | None = None


@dataclass(frozen=True)
class AlteryxSettings:
    """`[providers.alteryx]`."""

    base_url: str
    client_id: Secret
    client_secret: Secret
    output_format: str | None = None
    accept_dispositions: tuple[str, ...] = ("Success", "Warning")
    """Dispositions of a Completed job whose outputs are downloaded (any case)."""


@dataclass(frozen=True)
class ProvidersSettings:
    """`[providers.*]`: a provider is enabled exactly when its table exists."""

    pixxel: PixxelSettings | None = None
    scale: ScaleSettings | None = None
    alteryx: AlteryxSettings | None = None

    @property
    def enabled(self) -> frozenset[str]:
        """Names of the configured platforms (plain `http` needs no table)."""
        return frozenset(
            name
            for name, value in (
                ("pixxel", self.pixxel),
                ("scale", self.scale),
                ("alteryx", self.alteryx),
            )
            if value is not None
        )


@dataclass(frozen=True)
class TransferSettings:
    """`[transfer]`: the engine's limits and timeouts as the values it consumes."""

    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)
    ca_file: Path | None = None
    """PEM certificates of a private CA, trusted besides the system's (TLS is always verified)."""
    repair_attempts: int = 3
    """Re-fetches of an asset whose bytes failed a check (a digest, the size, a ZIP
    member's CRC-32) before it fails: a member's span where ranges work, else the file."""


@dataclass(frozen=True)
class PollSettings:
    """`[poll]`: how packages that are not ready yet are re-polled, in seconds."""

    initial_interval: float = 5.0
    max_interval: float = 300.0
    give_up_after: float = 172800.0
    unreadable_limit: int = 5
    """Answers in a row that cannot be read (not JSON, an unknown status word) before
    the item fails: a login page or a changed API does not heal by being asked for 48 h."""


@dataclass(frozen=True)
class RetrySettings:
    """`[retry]`: how an item is tried again after a passing failure, in seconds."""

    attempts: int = 8
    """Tries of an item before it fails with its last error; 0 never gives up."""
    initial_delay: float = 30.0
    """Wait before the second try, doubled before each one after it."""
    max_delay: float = 1800.0
    """Ceiling of that wait, and of a server's Retry-After."""


def _hostname() -> str:
    return socket.gethostname() or "localhost"


@dataclass(frozen=True)
class ServiceSettings:
    """`[service]`: this process among others sharing one state store."""

    node_id: str = field(default_factory=_hostname)
    """Names this process in shared state (leases, logs)."""
    grace_period: float = 30.0
    """Seconds to let work drain after SIGTERM before cancelling it."""
    lease_duration: float = 120.0
    """Seconds a claim on an item lasts unless renewed (renewed every third of it)."""
    hook_wait: float = 30.0
    """Seconds `once` goes on delivering its run's hook events after the last item;
    what is left then is delivered by the next run."""


@dataclass(frozen=True)
class MetricsSettings:
    """`[metrics]`: the Prometheus endpoint of `downloader run`."""

    listen: tuple[str, int] | None = None
    """Host and port to serve `/metrics` and `/healthz` on; None (the default): off."""


@dataclass(frozen=True)
class Settings:
    """The whole configuration, as loaded from a file or built in code."""

    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    state: StateSettings = field(default_factory=StateSettings)
    watchlist: WatchlistSettings = field(default_factory=WatchlistSettings)
    providers: ProvidersSettings = field(default_factory=ProvidersSettings)
    transfer: TransferSettings = field(default_factory=TransferSettings)
    poll: PollSettings = field(default_factory=PollSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    hooks: tuple[HookSettings, ...] = ()
    """`[[hooks]]`: run or posted to once an item is archived or failed."""
    source: Path | None = None
    """The file these settings were read from; None when built in code."""
    warnings: tuple[str, ...] = ()
    """Things worth telling the operator that do not stop the program."""

    @classmethod
    def defaults(cls, root: Path) -> Settings:
        """Default settings with everything kept under `root` (demo, tests).

        The archive goes to `root/archive`, the state to `root/state.db` and the
        watchlist is read from `root/watchlist.toml`; no provider is enabled.
        """
        root = root.absolute()
        return cls(
            archive=ArchiveSettings(root=root / "archive"),
            state=StateSettings(url=f"sqlite:///{root / 'state.db'}"),
            watchlist=WatchlistSettings(path=root / "watchlist.toml"),
        )
