"""`python -m downloader.emulator`: serve a scenario on loopback until SIGTERM/SIGINT.

Prints one JSON line on stdout once listening (`base_url` and each platform's base
URL, plus `config` when `--client-files` wrote client files), then serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from downloader.emulator._app import Emulator, start_emulator
from downloader.emulator._client_files import write_client_files
from downloader.emulator._scenario import Scenario
from downloader.emulator._scenario_toml import load_scenario, parse_scenario
from downloader.emulator.scenarios import demo_scenario_text
from downloader.errors import ConfigError


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m downloader.emulator",
        description="Emulate the Pixxel, Scale and Alteryx APIs on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--scenario", type=Path, help="scenario TOML (default: the demo)")
    parser.add_argument(
        "--client-files", type=Path, metavar="DIR", help="write config, watchlist, secrets here"
    )
    parser.add_argument("--archive-root", type=Path, help="archive root for the written config")
    parser.add_argument("--state-url", help="state store URL for the written config")
    parser.add_argument(
        "--scale-api-version", choices=["v6", "legacy"], help="Scale API the config names"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace, scenario: Scenario) -> None:
    running = await start_emulator(Emulator(scenario), port=args.port)
    try:
        announced: dict[str, str] = running.urls
        if args.client_files is not None:
            directory: Path = args.client_files.resolve()
            files = write_client_files(
                scenario,
                running.base_url,
                directory,
                archive_root=(args.archive_root or directory / "archive").resolve(),
                state_url=args.state_url or f"sqlite:///{directory / 'state.db'}",
                scale_api_version=args.scale_api_version,
            )
            announced = {**announced, "config": str(files.config)}
        print(json.dumps(announced), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await running.aclose()


def main(argv: list[str] | None = None) -> int:
    """Run the emulator; 0 after a signal, 2 for a bad scenario or arguments."""
    args = _arguments(argv)
    try:
        if args.scenario is not None:
            scenario = load_scenario(args.scenario)
        else:
            scenario = parse_scenario(demo_scenario_text(), source="demo.toml")
    except (ConfigError, OSError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(args, scenario))
    return 0


if __name__ == "__main__":
    sys.exit(main())
