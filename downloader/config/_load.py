"""Reading the config file: every problem collected, then one `ConfigError`.

`parse_config` walks the TOML data against `TABLES`, gathering problems rather
than stopping at the first, so that one run of `check-config` shows them all.
`load_config` is the shell that reads the file and raises.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from downloader.config._fields import Context
from downloader.config._files import CONFIG_LIMIT, read_regular
from downloader.config._hooks import parse_hooks
from downloader.config._keys import RETIRED, TABLES
from downloader.config._schema import (
    ArchiveSettings,
    ProvidersSettings,
    Settings,
    TransferSettings,
    WatchlistSettings,
)
from downloader.config._space import space_problem
from downloader.config._toml import KeyLines, parse_toml, type_name
from downloader.errors import ConfigError, ConfigProblem
from downloader.transfer import Limits

__all__ = [
    "ConfigReport",
    "default_config_path",
    "inspect_config",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_PATH = Path("/etc/downloader/config.toml")


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$DOWNLOADER_CONFIG` if set, else `/etc/downloader/config.toml`."""
    value = (os.environ if environ is None else environ).get("DOWNLOADER_CONFIG")
    return Path(value) if value else DEFAULT_CONFIG_PATH


@dataclass(frozen=True)
class ConfigReport:
    """Everything learnt from one config file, usable even when it has problems."""

    settings: Settings | None
    """None exactly when `problems` is not empty."""
    problems: tuple[ConfigProblem, ...]
    warnings: tuple[str, ...]
    watchlist_path: Path | None
    """The watchlist named by the file (or the default), if that much could be read."""
    enabled_providers: frozenset[str]
    """Providers whose table is present, even if that table has problems."""


class _Walk:
    """One pass over the parsed data; collects values per table and problems."""

    def __init__(self, file: str, lines: KeyLines, ctx: Context) -> None:
        self.file = file
        self.lines = lines
        self.ctx = ctx
        self.problems: list[ConfigProblem] = []
        self.values: dict[str, dict[str, Any]] = {}
        self.broken: set[str] = set()

    def problem(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, key, message, self.lines.line(key)))

    def table(self, path: str, data: object) -> None:
        spec = TABLES[path]
        if not isinstance(data, dict):
            self.problem(path, f"expected a table, got {type_name(data)}")
            self.broken.add(path)
            return
        values: dict[str, Any] = {}
        before = len(self.problems)
        for key, value in data.items():
            full = f"{path}.{key}" if path else key
            if full in TABLES:
                self.table(full, value)
            elif key in spec.keys:
                try:
                    values[key] = spec.keys[key].parse(value, self.ctx)
                except ValueError as exc:
                    self.problem(full, str(exc))
            elif full in RETIRED:
                self.ctx.warnings.append(f"{full}: {RETIRED[full]}")
            else:
                self.problem(full, _unknown(path, key))
        for key, rule in spec.keys.items():
            if rule.required and key not in data:
                self.problem(f"{path}.{key}", "missing required key")
        self.values[path] = values
        if len(self.problems) > before:
            self.broken.add(path)

    def build(self, path: str) -> Any:
        spec = TABLES[path]
        if spec.build is None or path not in self.values or path in self.broken:
            return None
        try:
            built = spec.build(self.values[path])
        except ValueError as exc:
            self.problem(path, str(exc))
            return None
        for key, message in spec.check(built):
            self.problem(f"{path}.{key}", message)
        return built


def _unknown(table: str, key: str) -> str:
    children = [p.rpartition(".")[2] for p in TABLES if p and p.rpartition(".")[0] == table]
    known = sorted([*TABLES[table].keys, *children])
    what = "table" if not TABLES[table].keys else "key"
    message = f"unknown {what} {key!r}"
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} (known: {', '.join(known)})"


def _watchlist_path(walk: _Walk) -> Path | None:
    if any(p.key in ("watchlist", "watchlist.path") for p in walk.problems):
        return None
    path: Path = walk.values.get("watchlist", {}).get("path", WatchlistSettings().path)
    return path


def _check_space(walk: _Walk, archive: ArchiveSettings, transfer: object) -> None:
    if "transfer" in walk.broken:
        return
    limits = transfer.limits if isinstance(transfer, TransferSettings) else Limits()
    problem = space_problem(archive.root, limits.min_free_space)
    if problem is not None:
        walk.problem("transfer.min_free_space", problem)


def parse_config(
    text: str,
    *,
    file: str,
    base_dir: Path,
    environ: Mapping[str, str],
    secrets: bool = True,
) -> ConfigReport:
    """Check and convert the text of a config file.

    Relative paths are taken from `base_dir`; secrets are read from `environ`
    or from files (with `secrets` false, only their form is checked and they are
    left empty).  Never raises for bad input: problems are in the report.
    """
    document = parse_toml(text, file=file)
    if document.data is None:
        assert document.problem is not None
        return ConfigReport(None, (document.problem,), (), None, frozenset())
    walk = _Walk(
        file, document.lines, Context(base_dir.absolute(), environ, resolve_secrets=secrets)
    )
    data = dict(document.data)
    hooks = parse_hooks(data.pop("hooks", []), walk.ctx, walk.problem)
    walk.table("", data)
    built = {path: walk.build(path) for path in TABLES}
    provider_tables = document.data.get("providers")
    enabled = frozenset(
        name
        for name, value in (provider_tables.items() if isinstance(provider_tables, dict) else ())
        if f"providers.{name}" in TABLES and isinstance(value, dict)
    )
    watchlist_path = _watchlist_path(walk)
    if built["archive"] is not None or "archive" not in walk.values:
        _check_space(walk, built["archive"] or ArchiveSettings(), built["transfer"])
    if walk.problems:
        problems = sorted(walk.problems, key=lambda p: (p.line is None, p.line or 0))
        return ConfigReport(
            None, tuple(problems), tuple(walk.ctx.warnings), watchlist_path, enabled
        )
    tables = {
        name: built[name]
        for name in (
            "archive",
            "state",
            "watchlist",
            "transfer",
            "poll",
            "retry",
            "service",
            "metrics",
        )
        if built[name] is not None
    }
    providers = ProvidersSettings(**{name: built[f"providers.{name}"] for name in enabled})
    settings = Settings(
        **tables, providers=providers, hooks=hooks, warnings=tuple(walk.ctx.warnings)
    )
    return ConfigReport(settings, (), settings.warnings, watchlist_path, enabled)


def inspect_config(
    path: Path, *, environ: Mapping[str, str] | None = None, secrets: bool = True
) -> ConfigReport:
    """Read and check the config file at `path`; problems are reported, not raised."""
    file = str(path)
    try:
        text = read_regular(path, limit=CONFIG_LIMIT).data.decode("utf-8")
    except UnicodeDecodeError:  # before ValueError, of which it is a kind
        problem = ConfigProblem(file, "", "config file is not UTF-8 text")
        return ConfigReport(None, (problem,), (), None, frozenset())
    except ValueError as exc:  # a FIFO, a device, too large, gone, not allowed
        problem = ConfigProblem(file, "", f"cannot read config file: {exc}")
        return ConfigReport(None, (problem,), (), None, frozenset())
    report = parse_config(
        text,
        file=file,
        base_dir=path.absolute().parent,
        environ=os.environ if environ is None else environ,
        secrets=secrets,
    )
    if report.settings is None:
        return report
    return replace(report, settings=replace(report.settings, source=path))


def load_config(
    path: Path, *, environ: Mapping[str, str] | None = None, secrets: bool = True
) -> Settings:
    """The settings in the file at `path`; raises `ConfigError` listing every problem."""
    report = inspect_config(path, environ=environ, secrets=secrets)
    if report.settings is None:
        raise ConfigError(list(report.problems))
    return report.settings
