"""End to end when things go wrong: restarts, expiring URLs and tokens, malformed answers,
and secrets kept out of every log line."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from downloader.config import PollSettings
from downloader.emulator import (
    AlteryxJob,
    AlteryxOutput,
    DownloadKind,
    FileEntry,
    Knobs,
    Malformed,
    PixxelDownload,
    PixxelJob,
    ScaleJob,
    Scenario,
    Settings,
    Timing,
)
from downloader.errors import ApiError, MalformedResponse, PollTimeout
from downloader.providers import MemoryMemo
from tests.support.providers import AYX, KINDS, SCENARIO, got, world

CATALOG = "pixxel:catalog:cat-1"


class CrashWhen:
    """A listener that cancels the work around it at a phase: a process dying mid-poll."""

    def __init__(self, phase: str, scope: anyio.CancelScope) -> None:
        self.phase_name = phase
        self.scope = scope

    async def phase(self, name: str, detail: str = "") -> None:
        if name == self.phase_name:
            self.scope.cancel()


async def test_a_restart_polls_the_same_catalog_download_instead_of_creating_another(tmp_path):
    scenario = Scenario(
        pixxel_downloads=(
            PixxelDownload(
                DownloadKind.CATALOG, "cat-1", files=(FileEntry("c", 1000),), ready=Timing(polls=4)
            ),
        )
    )
    async with world(tmp_path, scenario) as w:
        memo = MemoryMemo()
        with anyio.CancelScope() as scope:
            await w.prepare(CATALOG, memo, CrashWhen("preparing", scope))
        assert scope.cancelled_caught
        saved = memo.data
        assert saved is not None
        assert saved["download_id"]

        w.restart()  # new adapter instances, same memo
        package = await w.prepare(CATALOG, memo)
        assert package.download_id == saved["download_id"]
        assert got(await w.fetch(CATALOG, package)) == w.expected(CATALOG)
        assert w.stats(CATALOG)["downloads_created"] == 1
        assert [r.method for r in w.api_log(item=CATALOG)].count("POST") == 1


async def test_a_download_the_platform_forgot_is_created_anew_once(tmp_path):
    async with world(tmp_path, SCENARIO) as w:
        memo = MemoryMemo({"download_id": "5d0c0000-0000-4000-8000-000000000000"})
        package = await w.prepare(CATALOG, memo)
        assert got(await w.fetch(CATALOG, package)) == w.expected(CATALOG)
        assert w.stats(CATALOG)["downloads_created"] == 1
    assert memo.data == {"download_id": package.download_id, "kind": "catalog"}
    assert package.download_id != "5d0c0000-0000-4000-8000-000000000000"


# ---- expiry -----------------------------------------------------------------------------------


async def test_a_signed_url_that_expires_mid_transfer_is_renewed_by_a_new_put(tmp_path):
    # The connection drops after 100 kB; the engine's retry waits half a second, by which
    # time the half-second URL has expired: the engine asks for a fresh one and resumes.
    knobs = Knobs(url_lifetime=0.5, faults={"drop_after_bytes": 100_000, "drop_times": 2})
    job = PixxelJob("wf", "j", files=(FileEntry("scene.tif", 300_000),), knobs=knobs)
    key = "pixxel:job:wf/j"
    async with world(tmp_path, Scenario(pixxel_jobs=(job,))) as w:
        package = await w.prepare(key)
        puts_before = w.stats(key)["package_requests"]
        with capture_logs() as logs:
            results = await w.fetch(key, package)
        assert got(results) == w.expected(key)
        assert w.stats(key)["package_requests"] == puts_before + 1
        statuses = [r.status for r in w.emulator.files.log]
        assert statuses[0] == 206  # the engine always asks for a range
        assert 403 in statuses
        assert statuses[-1] == 206  # resumed, not restarted
        assert results[0].bytes_received == results[0].size  # no byte fetched twice
        # bytes served stay within the file's size plus one chunk per segment
        assert sum(r.bytes_sent for r in w.emulator.files.log) <= results[0].size + (1 << 20)
        assert [e["status"] for e in logs if e["event"] == "transfer.refresh_url"] == [403]


async def test_an_expired_catalog_url_is_renewed_from_the_same_download(tmp_path):
    async with world(tmp_path, SCENARIO) as w:
        package = await w.prepare(CATALOG)
        requests = w.stats(CATALOG)["package_requests"]
        w.clock.advance(3600)  # far past the URL's lifetime
        assert got(await w.fetch(CATALOG, package)) == w.expected(CATALOG)
        assert w.stats(CATALOG)["package_requests"] == requests + 1
        assert w.stats(CATALOG)["downloads_created"] == 1
        assert [r.status for r in w.emulator.files.log][:2] == [403, 206]


# ---- Alteryx tokens ---------------------------------------------------------------------------

ALTERYX = Scenario(
    settings=Settings(token_lifetime=100),
    alteryx_jobs=(
        AlteryxJob(
            AYX,
            outputs=(AlteryxOutput("o1", "result.csv", 50_000),),
            done=Timing(polls=6),
        ),
    ),
)
SLOW_POLL = PollSettings(initial_interval=20, max_interval=40, give_up_after=3600)


def token_requests(w: Any) -> int:
    return sum(1 for r in w.api_log() if r.path.endswith("/oauth2/token"))


async def test_tokens_are_renewed_before_they_expire_so_no_call_is_refused(tmp_path):
    async with world(tmp_path, ALTERYX, poll=SLOW_POLL) as w:
        results = await w.download("alteryx:job:" + AYX)
        assert got(results) == w.expected("alteryx:job:" + AYX)
        assert w.clock.sleeps == [20, 40, 40, 40, 40, 40]
        assert w.api_log(status=401) == []
        assert token_requests(w) >= 4  # 100 s tokens, renewed at 50 s, over 220 s


async def test_a_token_refused_mid_transfer_is_renewed_after_one_401(tmp_path):
    key = "alteryx:job:" + AYX
    async with world(tmp_path, ALTERYX) as w:
        package = await w.prepare(key)
        w.emulator.alteryx.tokens.clear()  # the server forgets every token it gave out
        results = await w.fetch(key, package)
        assert got(results) == w.expected(key)
        refused = w.api_log(status=401)
        assert [r.path for r in refused] == [f"/alteryx/webapi/v1/jobs/{AYX}/output/o1"]
        assert token_requests(w) == 2


class ForgetTokens:
    """A listener that makes the server forget its tokens the first time the job waits."""

    def __init__(self, w: Any) -> None:
        self.w = w
        self.done = False

    async def phase(self, name: str, detail: str = "") -> None:
        if name == "waiting" and not self.done:
            self.done = True
            self.w.emulator.alteryx.tokens.clear()


async def test_a_token_refused_while_polling_is_renewed_after_one_401(tmp_path):
    key = "alteryx:job:" + AYX
    async with world(tmp_path, ALTERYX) as w:
        package = await w.prepare(key, events=ForgetTokens(w))
        assert got(await w.fetch(key, package)) == w.expected(key)
        assert [r.path for r in w.api_log(status=401)] == [f"/alteryx/webapi/v3/jobs/{AYX}"]
        assert token_requests(w) == 2


# ---- malformed answers ------------------------------------------------------------------------


def spoiled(mode: Malformed, times: int = -1) -> Knobs:
    return Knobs(malformed=mode, malformed_times=times)


MALFORMED = Scenario(
    pixxel_jobs=(
        PixxelJob("wf", "good", files=(FileEntry("a", 1000),)),
        PixxelJob("wf", "html", files=(FileEntry("a", 1000),), knobs=spoiled(Malformed.HTML_ERROR)),
        PixxelJob(
            "wf", "once", files=(FileEntry("a", 1000),), knobs=spoiled(Malformed.TRUNCATED_JSON, 1)
        ),
        PixxelJob(
            "wf", "flaky", files=(FileEntry("a", 1000),), knobs=spoiled(Malformed.HTML_ERROR, 2)
        ),
    ),
    pixxel_downloads=(
        PixxelDownload(
            DownloadKind.CATALOG,
            "huge",
            files=(FileEntry("a", 10),),
            knobs=spoiled(Malformed.HUGE_BODY),
        ),
    ),
    scale_jobs=(
        ScaleJob(20, files=(FileEntry("ok.txt", 100),)),
        ScaleJob(21, files=(FileEntry("a", 1),), knobs=spoiled(Malformed.WRONG_TYPE)),
        ScaleJob(22, files=(FileEntry("a", 1),), knobs=spoiled(Malformed.TRUNCATED_JSON)),
    ),
    alteryx_jobs=(
        AlteryxJob("ok", outputs=(AlteryxOutput("o", "r.csv", 100),)),
        AlteryxJob("missing", knobs=spoiled(Malformed.MISSING_FIELD)),
        AlteryxJob("unknown", knobs=spoiled(Malformed.UNKNOWN_STATUS)),
    ),
)

OUTCOMES: dict[str, tuple[type[Exception] | None, str]] = {
    "pixxel:job:wf/good": (None, ""),
    "pixxel:job:wf/once": (None, ""),
    "pixxel:job:wf/flaky": (None, ""),  # two 502 pages, then good answers
    "scale:job:20": (None, ""),
    "alteryx:job:ok": (None, ""),
    "pixxel:job:wf/html": (
        PollTimeout,
        "Pixxel job wf/html not finished after 2m; last error: Pixxel API GET "
        "/pixxel/v0/workflows/wf/jobs/html: HTTP 502 Bad Gateway: 502 Bad Gateway: Bad Gateway "
        "The upstream server sent an invalid response.",
    ),
    "pixxel:catalog:huge": (
        MalformedResponse,
        "Pixxel API POST /pixxel/v0/catalogs/download: response too large (over 8388608 bytes)"
        " (5 unreadable answers in a row)",
    ),
    "scale:job:21": (
        MalformedResponse,
        "Scale job: 'status' is int, expected a string (5 unreadable answers in a row); "
        'the last answer to Scale API GET /scale/v6/jobs/21/: \'{"batch":null,',
    ),
    "scale:job:22": (
        MalformedResponse,
        "Scale API GET /scale/v6/jobs/22/: the answer is not valid JSON (truncated) (5 "
        "unreadable answers in a row); the last answer to Scale API GET /scale/v6/jobs/22/: "
        '\'{"id": 22, ',
    ),
    "alteryx:job:missing": (
        MalformedResponse,
        "Alteryx job: the answer has no 'status' (5 unreadable answers in a row); the last "
        'answer to Alteryx API GET /alteryx/webapi/v3/jobs/missing: \'{"appId":"app-1",',
    ),
    "alteryx:job:unknown": (
        MalformedResponse,
        "Alteryx job unknown: status 'reticulating-splines' is not a word we know (5 unreadable "
        "answers in a row); the last answer to Alteryx API GET /alteryx/webapi/v3/jobs/unknown: "
        '\'{"appId":"app-1",',
    ),
}


async def test_malformed_answers_fail_their_own_item_clearly_while_the_others_complete(tmp_path):
    poll = PollSettings(initial_interval=1, max_interval=10, give_up_after=120)
    outcome: dict[str, Exception | None] = {}
    async with world(tmp_path, MALFORMED, poll=poll) as w:

        async def one(key: str) -> None:
            try:
                results = await w.download(key)
            except Exception as exc:
                outcome[key] = exc
            else:
                assert got(results) == w.expected(key)
                outcome[key] = None

        with capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                for key in OUTCOMES:
                    tg.start_soon(one, key)

    for key, (kind, message) in OUTCOMES.items():
        if kind is None:
            assert outcome[key] is None, f"{key}: {outcome[key]}"
        else:
            assert type(outcome[key]) is kind, f"{key}: {outcome[key]!r}"
            # an excerpt of the last answer is quoted: its start is enough to recognise
            assert str(outcome[key]).startswith(message), str(outcome[key])
    unknown = [e for e in logs if e["event"] == "provider.unknown_status"]
    assert [(e["item"], e["status"]) for e in unknown] == [
        ("alteryx:job:unknown", "reticulating-splines")
    ]


# ---- secrets ------------------------------------------------------------------------------------


async def test_no_secret_appears_in_any_log_line_or_error(tmp_path):
    errors: list[str] = []
    with capture_logs() as logs:
        async with world(tmp_path, SCENARIO) as w:
            for key, _ in KINDS:
                await w.download(key)
            # expiry and refusal paths log URLs and statuses too
            package = await w.prepare(CATALOG)
            w.clock.advance(3600)
            await w.fetch(CATALOG, package)
            package = await w.prepare("alteryx:job:" + AYX)
            w.emulator.alteryx.tokens.clear()
            await w.fetch("alteryx:job:" + AYX, package)
            tokens = list(w.emulator.alteryx.tokens)
            queries = [r.query for r in w.emulator.files.log]
        async with world(tmp_path / "bad", SCENARIO, pixxel_key="wrong-px-key") as bad:
            with pytest.raises(ApiError) as caught:
                await bad.prepare("pixxel:job:wf-1/job-1")
            errors.append(str(caught.value))
    signatures = [m for q in queries for m in re.findall(r"sig=([0-9a-f]+)", q)]
    assert len(signatures) >= 6
    assert tokens
    secrets = [
        "px-test-key",
        "wrong-px-key",
        "sc-token",
        "ayx-secret",
        "YXl4LWlkOmF5eC1zZWNyZXQ",  # base64 of the Basic credentials
        *tokens,
        *signatures,
    ]
    assert any(e["event"] == "transfer.refresh_url" for e in logs)
    assert sum(e["event"] == "provider.api" for e in logs) > 20
    for event in logs:
        text = repr(event)
        for secret in secrets:
            assert secret not in text, (secret, event)
    for text in errors:
        assert all(secret not in text for secret in secrets)
