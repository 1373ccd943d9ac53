"""Writing the files a downloader needs to work against a running emulator.

`write_client_files` produces a `config.toml` and a `watchlist.toml` in the
contract's formats, plus one secret file per credential (mode 0600, in a 0700
`secrets/` folder) that the config names with `{ file = ... }`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from downloader.emulator._scenario import (
    AlteryxJob,
    DownloadKind,
    Item,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
)


@dataclass(frozen=True)
class ClientFiles:
    """Where `write_client_files` put things; `secrets` maps a credential name to its file."""

    config: Path
    watchlist: Path
    secrets: dict[str, Path]


def write_client_files(
    scenario: Scenario,
    base_url: str,
    directory: Path,
    *,
    archive_root: Path,
    state_url: str,
    scale_api_version: str | None = None,
    workflow_sources: Sequence[str] = (),
    hooks: bool = False,
) -> ClientFiles:
    """Write config, watchlist and secrets for a client of the emulator at `base_url`.

    `scale_api_version` ("v6" or "legacy") defaults to the scenario's; "legacy"
    points the client at `/scale-legacy`.  With `hooks`, every item's archived or
    failed event is posted to the emulator's webhook receiver (`/hooks/events`).
    """
    settings = scenario.settings
    version = scale_api_version or settings.scale_api_version
    if version not in ("v6", "legacy"):
        raise ValueError(f"scale_api_version must be 'v6' or 'legacy', not {version!r}")
    directory.mkdir(parents=True, exist_ok=True)
    secret_dir = directory / "secrets"
    secret_dir.mkdir(mode=0o700, exist_ok=True)
    secret_dir.chmod(0o700)
    values = {
        "pixxel_api_key": settings.pixxel_api_key,
        "alteryx_client_id": settings.alteryx_client_id,
        "alteryx_client_secret": settings.alteryx_client_secret,
    }
    if settings.scale_token is not None:
        values["scale_token"] = settings.scale_token
    secrets = {name: _write_secret(secret_dir / name, value) for name, value in values.items()}

    watchlist = directory / "watchlist.toml"
    watchlist.write_text(render_watchlist(scenario, workflow_sources), encoding="utf-8")
    scale_prefix = "/scale" if version == "v6" else "/scale-legacy"
    lines = [
        "# Written by the provider emulator for a client of its loopback server.",
        "[archive]",
        f"root = {_s(str(archive_root))}",
        "",
        "[state]",
        f"url = {_s(state_url)}",
        "",
        "[watchlist]",
        f"path = {_s(str(watchlist))}",
        "",
        "[providers.pixxel]",
        f"base_url = {_s(base_url + '/pixxel')}",
        f"api_key = {_file(secrets['pixxel_api_key'])}",
        "",
        "[providers.scale]",
        f"base_url = {_s(base_url + scale_prefix)}",
        f"api_version = {_s(version)}",
    ]
    if "scale_token" in secrets:
        lines.append(f"token = {_file(secrets['scale_token'])}")
    lines += [
        "",
        "[providers.alteryx]",
        f"base_url = {_s(base_url + '/alteryx/webapi')}",
        f"client_id = {_file(secrets['alteryx_client_id'])}",
        f"client_secret = {_file(secrets['alteryx_client_secret'])}",
        "",
    ]
    if hooks:
        lines += [
            "[[hooks]]",
            'name = "emulator"',
            'on = ["archived", "failed"]',
            f"url = {_s(base_url + '/hooks/events')}",
            'retry_delay = "200ms"',
            'max_delay = "1s"',
            "",
        ]
    config = directory / "config.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return ClientFiles(config=config, watchlist=watchlist, secrets=secrets)


def render_watchlist(scenario: Scenario, workflow_sources: Sequence[str] = ()) -> str:
    """The watchlist TOML naming every item of `scenario`, in order; the jobs of the
    Pixxel workflows in `workflow_sources` by one `[[pixxel.workflow]]` source each."""
    blocks = ["# Every item of the emulator's scenario.\n"]
    for item in scenario.items():
        if isinstance(item, PixxelJob) and item.workflow_id in workflow_sources:
            continue
        table, fields = _watch_entry(item)
        body = "".join(f"{name} = {value}\n" for name, value in fields)
        blocks.append(f"[[{table}]]\n{body}")
    for workflow in workflow_sources:
        blocks.append(f"[[pixxel.workflow]]\nworkflow_id = {_s(workflow)}\n")
    return "\n".join(blocks)


def _watch_entry(item: Item) -> tuple[str, list[tuple[str, str]]]:
    if isinstance(item, PixxelJob):
        return "pixxel.job", [("workflow_id", _s(item.workflow_id)), ("job_id", _s(item.job_id))]
    if isinstance(item, PixxelTask):
        ids = [
            ("workflow_id", item.workflow_id),
            ("job_id", item.job_id),
            ("task_id", item.task_id),
        ]
        return "pixxel.task", [(k, _s(v)) for k, v in ids]
    if isinstance(item, PixxelDownload):
        table = "pixxel.catalog" if item.kind is DownloadKind.CATALOG else "pixxel.order_item"
        return table, [("id", _s(item.id))]
    if isinstance(item, ScaleJob):
        return "scale.job", [("id", str(item.id))]
    assert isinstance(item, AlteryxJob)
    return "alteryx.job", [("id", _s(item.id))]


def _write_secret(path: Path, value: str) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value)
    path.chmod(0o600)  # the file may have existed with wider permissions
    return path


def _s(value: str) -> str:
    # A JSON string with non-ASCII escaped is also a valid TOML basic string.
    return json.dumps(value)


def _file(path: Path) -> str:
    return f"{{ file = {_s(str(path))} }}"
