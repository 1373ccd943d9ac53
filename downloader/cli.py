"""The `downloader` command line: parses arguments and hands over to the runners.

Each subcommand is one `_add_<name>` function that declares its parser and
sets `handler`, the function that runs it and returns the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO, TypeAlias, TypeVar

from downloader import __version__
from downloader._cli_options import add_common_options, log_level
from downloader._cli_setup import load_settings, unusable, unwrap_store_error
from downloader.config import Settings, default_config_path, inspect_config
from downloader.errors import ConfigProblem
from downloader.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from downloader.watchlist import load_watchlist

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")
_Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_config_option(parser: argparse.ArgumentParser, *, verbose: bool = True) -> None:
    """`-c CONFIG` and the log options, accepted after the command as before it."""
    add_common_options(parser, verbose=verbose)


def _config_path(args: argparse.Namespace) -> Path:
    path: Path | None = getattr(args, "config", None)
    return path if path is not None else default_config_path()


def _print_problems(problems: Sequence[ConfigProblem], stream: TextIO) -> None:
    for problem in problems:
        print(problem, file=stream)


def _load_settings(args: argparse.Namespace, **options: bool) -> Settings | None:
    """The settings named by `-c` (see `load_settings`), warnings as log lines when
    logging is set up."""
    logs = getattr(args, "log_default", None) is not None
    return load_settings(_config_path(args), logs=logs, **options)


def check_config(args: argparse.Namespace) -> int:
    """`downloader check-config`: report every problem of the config and its watchlist."""
    report = inspect_config(_config_path(args))
    problems = list(report.problems)
    items = sources = 0
    if report.watchlist_path is not None:
        watchlist = load_watchlist(
            report.watchlist_path, enabled_providers=report.enabled_providers
        )
        problems.extend(watchlist.problems)
        items = len(watchlist.items)
        sources = len(watchlist.sources)
    _print_problems(problems, sys.stderr)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"config has {len(problems)} {noun}", file=sys.stderr)
        return EXIT_USAGE
    providers = ", ".join(sorted(report.enabled_providers)) or "none"
    noun = "item" if items == 1 else "items"
    listed = f", {sources} source{'' if sources == 1 else 's'}" if sources else ""
    print(f"config OK: {items} watchlist {noun}{listed}, providers: {providers}")
    return EXIT_OK


def _add_check_config(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="check the config and watchlist, reporting every problem",
        description="Parse the config file and the watchlist it names; report every problem "
        "with file, line and key.  Exits 0 when both are fine, 2 otherwise.",
    )
    _add_config_option(parser)
    parser.set_defaults(handler=check_config)


def once(args: argparse.Namespace) -> int:
    """`downloader once`: work every watchlist item until each is archived or failed."""
    import json
    import time

    import anyio
    import structlog

    settings = _load_settings(args, store_early=True)
    if settings is None:
        return EXIT_USAGE

    from downloader.errors import FilesystemError, StoreError
    from downloader.runners._board import ProgressBoard
    from downloader.runners._compose import Interrupted, run_once
    from downloader.runners._progress import (
        hooks_left_text,
        show_progress,
        summary_json,
        summary_line,
    )

    watchlist = load_watchlist(
        settings.watchlist.path, enabled_providers=set(settings.providers.enabled) | {"http"}
    )
    log = structlog.get_logger("downloader.once")
    for problem in watchlist.problems:  # bad entries are skipped, not fatal
        log.warning("watchlist.problem", problem=str(problem), file=problem.file, line=problem.line)
    board = ProgressBoard(time.monotonic())
    try:
        result = anyio.run(
            lambda: unwrap_store_error(
                run_once(
                    settings,
                    watchlist.items,
                    sources=watchlist.sources,
                    board=board,
                    progress=show_progress,
                )
            )
        )
    except Interrupted:  # a log line: off a terminal, stderr holds JSON only
        log.warning("once.interrupted", message="progress is saved, run again to continue")
        return EXIT_INTERRUPTED
    except (StoreError, FilesystemError) as exc:  # a store locked, damaged or foreign (never
        print(unusable(exc), file=sys.stderr)  # started over empty), no archive folder
        return EXIT_USAGE
    now = time.monotonic()
    if args.json:
        print(json.dumps({**summary_json(board, now), "hooks_undelivered": result.hooks_left}))
    else:
        print(summary_line(board, now) + hooks_left_text(result.hooks_left))
    return EXIT_OK if result.ok else EXIT_FAILED


def _add_once(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "once",
        help="work every watchlist item until each is archived or failed, then exit",
        description="Batch mode.  Exits 0 when every item is archived, 1 when any failed, "
        "2 on a bad config, 3 when interrupted.  Logs go to stderr (JSON lines off a "
        "terminal), the summary to stdout.",
    )
    _add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(handler=once, log_default="warning" if sys.stderr.isatty() else "info")


def run(args: argparse.Namespace) -> int:
    """`downloader run`: the daemon, in the foreground until SIGTERM/SIGINT."""
    settings = _load_settings(args, store_early=True)
    if settings is None:
        return EXIT_USAGE

    import anyio

    from downloader.errors import ConfigError, FilesystemError, StoreError
    from downloader.runners._daemon import run_daemon

    try:
        anyio.run(lambda: run_daemon(_config_path(args), settings))
    except (StoreError, FilesystemError) as exc:
        print(unusable(exc), file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:  # found only when used: e.g. metrics.listen already taken
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _add_run(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the daemon: work the watchlist until SIGTERM/SIGINT (systemd Type=notify)",
        description="Run in the foreground until SIGTERM or SIGINT, re-reading the watchlist "
        "when it changes and the config and watchlist on SIGHUP.  Exits 0 on a clean stop, "
        "2 on a bad config.",
    )
    _add_config_option(parser)
    parser.set_defaults(handler=run, log_default="info")


def status(args: argparse.Namespace) -> int:
    """`downloader status`: one line (or JSON object) per item; safe while the daemon runs."""

    import anyio

    from downloader.clock import SystemClock
    from downloader.errors import StoreError
    from downloader.runners._status import StatusOutput, status_output
    from downloader.store import open_store

    settings = _load_settings(args, secrets=False)
    if settings is None:
        return EXIT_USAGE

    async def read() -> StatusOutput:
        async with open_store(settings.state.url) as store:
            now = SystemClock().utcnow()
            return await status_output(
                store,
                as_json=args.json,
                verbose=args.verbose,
                now=now,
                retry_budget=settings.retry.attempts,
            )

    try:
        output = anyio.run(read)
    except StoreError as exc:
        print(f"state store: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(output.text + "\n")
    return EXIT_FAILED if output.failed else EXIT_OK


def _add_status(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show every item's state, bytes, error and archive path",
        description="One line per item (and per asset with -v); --json prints a JSON array.  "
        "Exits 1 when any item is failed, 0 otherwise.",
    )
    _add_config_option(parser, verbose=False)
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.add_argument("-v", "--verbose", action="store_true", help="list assets too")
    parser.set_defaults(handler=status)


def verify(args: argparse.Namespace) -> int:
    """`downloader verify`: re-hash archived bags against their manifests (fixity audit)."""
    from downloader.runners._verify_cli import run_verify

    settings = _load_settings(args, secrets=False)
    return EXIT_USAGE if settings is None else run_verify(settings, args.items)


def _add_verify(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="re-hash archived items against their manifests",
        description="Fixity audit of every archived item, or of the items named "
        "(provider:kind:id[/id...]) and of every item the sources named listed "
        "(e.g. pixxel:workflow:WF).  Exits 0 when all are intact, 1 otherwise.",
    )
    _add_config_option(parser)
    parser.add_argument("items", nargs="*", metavar="ITEM")
    parser.set_defaults(handler=verify)


def retry(args: argparse.Namespace) -> int:
    """`downloader retry`: failed items back to waiting (logic in `runners._put_back`)."""
    from downloader.runners._put_back_cli import run_retry

    settings = _load_settings(args, secrets=False)  # it calls no platform
    return EXIT_USAGE if settings is None else run_retry(settings, args.items, args.failed)


def _add_retry(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "retry",
        help="put failed items back to be worked again from where they stopped",
        description="Put the failed items named (provider:kind:id[/id...]), or with --failed "
        "every failed item, back to waiting; archived items are never touched.  Exits 0, "
        "or 2 on bad usage or an unknown item.",
    )
    _add_config_option(parser)
    parser.add_argument("items", nargs="*", metavar="ITEM")
    parser.add_argument("--failed", action="store_true", help="every failed item")
    parser.set_defaults(handler=retry)


def demo(args: argparse.Namespace) -> int:
    """`downloader demo`: the service against the built-in emulator, into ./demo-archive."""
    from downloader.runners._demo_cli import run_demo_command

    return run_demo_command(args.target, args.scenario)


def _add_demo(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run against the built-in provider emulator into ./demo-archive",
        description="Start the provider emulator on loopback, download its sample watchlist "
        "with progress, and print where everything went.",
    )
    parser.add_argument("--target", type=Path, default=Path("demo-archive"), metavar="DIR")
    parser.add_argument(
        "--scenario",
        type=Path,
        default=None,
        metavar="FILE",
        help="an emulator scenario to serve instead of the bundled one "
        "(e.g. downloader/emulator/scenarios/platforms.toml)",
    )
    add_common_options(parser)  # -c is not read: the demo writes its own config
    parser.set_defaults(handler=demo, log_default="warning")


def completion(args: argparse.Namespace) -> int:
    """`downloader completion SHELL`: the shell's completion script for every command."""
    import shtab

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


def _add_completion(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a completion script for bash or zsh",
        description="Print the completion script of SHELL, e.g. `downloader completion bash "
        "> /etc/bash_completion.d/downloader`, or `source <(downloader completion zsh)`.",
    )
    parser.add_argument("shell", choices=("bash", "zsh"), metavar="SHELL")
    parser.set_defaults(handler=completion)


_SUBCOMMANDS: tuple[Callable[[_Subparsers], None], ...] = (
    _add_demo,
    _add_check_config,
    _add_once,
    _add_run,
    _add_status,
    _add_verify,
    _add_completion,
    _add_retry,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="downloader",
        description="Fetch, verify and archive the results of geospatial processing platforms.",
    )
    parser.add_argument("--version", action="version", version=f"downloader {__version__}")
    add_common_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    default: str | None = getattr(args, "log_default", None)
    if default is None:  # a command that does not log (status must not even load structlog)
        return handler(args)
    try:
        level = log_level(
            option=args.log_level,
            louder=args.louder,
            quieter=args.quieter,
            environ=os.environ,
            default=default,
        )
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    from downloader.logs import configure_logging

    configure_logging(level=level)  # on stderr: stdout holds results only
    return handler(args)
