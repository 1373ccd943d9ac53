"""Configuration: the TOML config file turned into frozen, typed settings.

`load_config` reads a file and raises one `ConfigError` listing every problem
(file, line, key); `inspect_config` returns the same findings without raising.
`Settings()` built in code is a complete default configuration.
"""

from __future__ import annotations

from downloader.config._keys import schema_keys
from downloader.config._load import (
    ConfigReport,
    default_config_path,
    inspect_config,
    load_config,
    parse_config,
)
from downloader.config._schema import (
    AlteryxSettings,
    ArchiveSettings,
    MetricsSettings,
    PixxelSettings,
    PollSettings,
    ProvidersSettings,
    RetrySettings,
    ScaleSettings,
    ServiceSettings,
    Settings,
    StateSettings,
    TransferSettings,
    WatchlistSettings,
)
from downloader.config._secrets import Secret
from downloader.config._toml import KeyLines, TomlDocument, parse_toml, type_name
from downloader.config._units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "AlteryxSettings",
    "ArchiveSettings",
    "ConfigReport",
    "KeyLines",
    "MetricsSettings",
    "PixxelSettings",
    "PollSettings",
    "ProvidersSettings",
    "RetrySettings",
    "ScaleSettings",
    "Secret",
    "ServiceSettings",
    "Settings",
    "StateSettings",
    "TomlDocument",
    "TransferSettings",
    "WatchlistSettings",
    "default_config_path",
    "format_duration",
    "format_size",
    "inspect_config",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "parse_toml",
    "schema_keys",
    "type_name",
]
