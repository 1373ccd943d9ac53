"""One delivery of one hook event: a command run, or a POST; the thin I/O shell.

A command runs without a shell, with the event's JSON document on stdin and its
id in `$DOWNLOADER_EVENT_ID`, killed at its time limit; its output is logged
(`hook.output`).  A URL is POSTed the document with the id as `Idempotency-Key`.
Whatever goes wrong comes out as `HookFailed`, whose message names the URL by
its origin only: the rest of a webhook URL may be a token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import structlog
from anyio.abc import ByteReceiveStream, Process

from downloader.config._hooks import HookSettings
from downloader.errors import HookFailed
from downloader.hooks._plan import command_argv
from downloader.redact import REDACTOR
from downloader.store._outbox_models import OutboxRecord

if TYPE_CHECKING:  # loaded by the first hook that posts: a run without one needs none
    import aiohttp

__all__ = ["deliver", "describe_url"]

log = structlog.get_logger("downloader.hooks")

_OUTPUT_LIMIT = 4000
"""Characters of a command's stdout and of its stderr kept in the log line."""


def describe_url(url: str) -> str:
    """`https://host:port`: all of a webhook URL that may be shown."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


async def deliver(hook: HookSettings, record: OutboxRecord, session: aiohttp.ClientSession) -> None:
    """Deliver `record` to `hook` once; raises `HookFailed` when that did not work."""
    if hook.command is not None:
        await _run_command(hook, hook.command, record)
    elif hook.url is not None:
        await _post(hook, hook.url, record, session)
    else:  # the config refuses such a hook
        raise HookFailed(hook.name, "the hook has neither a command nor a url")


def _tail(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= _OUTPUT_LIMIT else "…" + text[-_OUTPUT_LIMIT:]


async def _run_command(hook: HookSettings, template: tuple[str, ...], record: OutboxRecord) -> None:
    argv = command_argv(template, json.loads(record.document))
    env = dict(os.environ, DOWNLOADER_EVENT_ID=record.event_id, DOWNLOADER_HOOK=hook.name)
    try:
        with anyio.fail_after(hook.timeout):
            done = await _complete(argv, record.document.encode(), env)
    except TimeoutError:
        raise HookFailed(hook.name, f"{argv[0]} ran longer than {hook.timeout:g}s") from None
    except OSError as exc:
        raise HookFailed(hook.name, f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    if done.stdout or done.stderr:
        log.info(
            "hook.output",
            hook=hook.name,
            item=record.item_key,
            event_id=record.event_id,
            returncode=done.returncode,
            stdout=_tail(done.stdout),
            stderr=_tail(done.stderr),
        )
    if done.returncode != 0:
        last = _tail(done.stderr).strip().splitlines()[-1:] or [""]
        reason = f"exit status {done.returncode}" if done.returncode > 0 else "killed by a signal"
        raise HookFailed(hook.name, f"{argv[0]}: {reason}" + (f": {last[0]}" if last[0] else ""))


async def _complete(argv: list[str], document: bytes, env: dict[str, str]) -> _Done:
    """Run `argv` with `document` on its stdin to its end.

    A command need not read the event: one that exits (or closes its stdin) before
    taking it has still run, and its exit status alone says how it went.  Counting
    the refused write as a failure would run the hook again.
    """
    out = bytearray()
    err = bytearray()
    # leaving the block cancelled (the time limit) kills the command and waits for it
    async with (
        await anyio.open_process(argv, env=env) as process,
        anyio.create_task_group() as group,
    ):
        assert process.stdout is not None  # piped by open_process
        assert process.stderr is not None
        group.start_soon(_drain, process.stdout, out)
        group.start_soon(_drain, process.stderr, err)
        await _offer(process, document)
        returncode = await process.wait()
    return _Done(returncode, bytes(out), bytes(err))


async def _offer(process: Process, document: bytes) -> None:
    assert process.stdin is not None
    try:
        await process.stdin.send(document)
        await process.stdin.aclose()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError):
        pass  # the command did not want the event on stdin


async def _drain(stream: ByteReceiveStream, into: bytearray) -> None:
    async for chunk in stream:
        into += chunk


@dataclass(frozen=True, slots=True)
class _Done:
    returncode: int
    stdout: bytes
    stderr: bytes


async def _post(
    hook: HookSettings, url: str, record: OutboxRecord, session: aiohttp.ClientSession
) -> None:
    import aiohttp

    where = describe_url(url)
    headers = {"Content-Type": "application/json", "Idempotency-Key": record.event_id}
    try:
        async with session.post(
            url,
            data=record.document.encode(),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=hook.timeout),
            allow_redirects=False,
        ) as response:
            status = response.status
            await response.read()
    except TimeoutError:
        raise HookFailed(hook.name, f"{where}: no answer within {hook.timeout:g}s") from None
    except (aiohttp.ClientError, OSError) as exc:
        text = REDACTOR.scrub(str(exc).replace(url, where)) or type(exc).__name__
        raise HookFailed(hook.name, f"{where}: {text}") from None
    if not 200 <= status < 300:
        raise HookFailed(hook.name, f"{where} answered HTTP {status}")
