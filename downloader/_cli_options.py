"""The options every command takes (`-c`, `-v`, `-q`, `--log-level`), before or after it.

The same options are declared on the main parser and on each subcommand's; a
subcommand's default is "not given" (`SUPPRESS`), so a value written before the
command is not overwritten by the absence of one after it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

LEVELS = ("debug", "info", "warning", "error", "critical")
LEVEL_ENV = "DOWNLOADER_LOG_LEVEL"


def add_common_options(
    parser: argparse.ArgumentParser, *, top: bool = False, verbose: bool = True
) -> None:
    """`-c`, `-v`/`-q` and `--log-level` on `parser`; `top` for the main parser, where
    they have defaults.  `verbose=False` leaves `-v` to the command (status: assets)."""
    unset = None if top else argparse.SUPPRESS
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=unset,
        metavar="CONFIG",
        help="config file (default: $DOWNLOADER_CONFIG, else /etc/downloader/config.toml)",
    )
    if verbose:
        parser.add_argument(
            "-v",
            "--verbose",
            dest="louder",
            action="count",
            default=0 if top else argparse.SUPPRESS,
            help="log more (-vv: debug)",
        )
    parser.add_argument(
        "-q",
        "--quiet",
        dest="quieter",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="log less (-qq: errors only)",
    )
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        default=unset,
        type=str.lower,
        help=f"log level (default: ${LEVEL_ENV}, else the command's own)",
    )


def log_level(
    *, option: str | None, louder: int, quieter: int, environ: Mapping[str, str], default: str
) -> str:
    """The level to log at: `--log-level`, else `$DOWNLOADER_LOG_LEVEL` or the command's
    default moved one step per `-v` (down) and `-q` (up).  Raises ValueError naming an
    unknown level in the environment."""
    if option is not None:
        return option
    base = environ.get(LEVEL_ENV, "").strip().lower() or default
    if base not in LEVELS:
        raise ValueError(f"{LEVEL_ENV}={base!r} is not one of {', '.join(LEVELS)}")
    index = LEVELS.index(base) - louder + quieter
    return LEVELS[min(max(index, 0), len(LEVELS) - 1)]
