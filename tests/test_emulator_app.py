from __future__ import annotations

import asyncio
import json
import stat
import sys
import tomllib
from pathlib import Path

import aiohttp
import pytest

from downloader.emulator import (
    AlteryxJob,
    AlteryxOutput,
    DownloadKind,
    FileEntry,
    Knobs,
    Malformed,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
    Settings,
    expected_files,
    parse_scenario,
    write_client_files,
)
from downloader.emulator._malform import HUGE_BODY_BYTES, HUGE_NUMBER_DIGITS, UNKNOWN_STATUS
from tests.support.emulator_fixtures import basic, serve

KEY = {"Authorization": "px-test-key"}
JOB = "/pixxel/v0/workflows/wf-1/jobs/job-1"


def pixxel_job(**knobs: object) -> Scenario:
    job = PixxelJob("wf-1", "job-1", files=(FileEntry("a.tif", 5000),), knobs=Knobs(**knobs))  # type: ignore[arg-type]
    return Scenario(pixxel_jobs=(job,))


@pytest.mark.parametrize("mode", list(Malformed))
async def test_each_malformed_mode_spoils_the_answer_its_own_way(mode: Malformed) -> None:
    async with serve(pixxel_job(malformed=mode, malformed_times=1)) as s:
        spoiled = await s.call("GET", JOB, headers=KEY)
        healthy = await s.call("GET", JOB, headers=KEY)
    assert healthy.status == 200
    assert healthy.json["status"] == "completed"
    if mode is Malformed.UNKNOWN_STATUS:
        assert spoiled.json["status"] == UNKNOWN_STATUS
    elif mode is Malformed.MISSING_FIELD:
        assert "status" not in spoiled.json
        assert spoiled.json["id"] == "job-1"
    elif mode is Malformed.WRONG_TYPE:
        assert not isinstance(spoiled.json["status"], str)
    elif mode is Malformed.TRUNCATED_JSON:
        assert spoiled.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(spoiled.raw)
    elif mode is Malformed.HTML_ERROR:
        assert spoiled.status == 502
        assert spoiled.headers["Content-Type"].startswith("text/html")
    elif mode is Malformed.LOGIN_PAGE:
        assert spoiled.status == 200
        assert spoiled.headers["Content-Type"].startswith("text/html")
        assert b"<form" in spoiled.raw
    elif mode is Malformed.HUGE_INTEGER:
        assert spoiled.status == 200
        with pytest.raises(ValueError, match="integer string conversion"):
            json.loads(spoiled.raw)
    elif mode is Malformed.HUGE_NUMBER:
        assert spoiled.raw.startswith(b'{"status": ' + b"9" * HUGE_NUMBER_DIGITS + b", ")
        with pytest.raises(ValueError, match="digits"):
            json.loads(spoiled.raw)
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)  # without the limit it is an object like the healthy one
        try:
            assert set(json.loads(spoiled.raw)) == set(healthy.json)
        finally:
            sys.set_int_max_str_digits(limit)
    else:
        assert len(spoiled.raw) > HUGE_BODY_BYTES
        assert spoiled.json["status"] == "completed"


async def test_malformed_applies_to_every_answer_by_default_and_other_providers() -> None:
    scenario = Scenario(
        settings=Settings(scale_token=None),
        scale_jobs=(
            ScaleJob(1, (FileEntry("f", 10),), knobs=Knobs(malformed=Malformed.WRONG_TYPE)),
        ),
        alteryx_jobs=(AlteryxJob("a", knobs=Knobs(malformed=Malformed.MISSING_FIELD)),),
    )
    async with serve(scenario) as s:
        for _ in range(2):
            job = await s.call("GET", "/scale/v6/jobs/1/")
            assert isinstance(job.json["status"], int)
        files = await s.call("GET", "/scale/v6/files/?job_id=1")
        assert isinstance(files.json["results"], dict)
        token = await s.call(
            "POST",
            "/alteryx/webapi/oauth2/token",
            headers={"Authorization": basic("ayx-id", "ayx-secret")},
            data={"grant_type": "client_credentials"},
        )
        auth = {"Authorization": f"Bearer {token.json['access_token']}"}
        assert "status" not in (await s.call("GET", "/alteryx/webapi/v3/jobs/a", headers=auth)).json
        assert s.emulator.stats()["scale:job:1"]["malformed_served"] == 3


async def test_request_log_names_provider_item_and_status_but_never_the_credential() -> None:
    output = AlteryxOutput("o1", "r.csv", 100)
    scenario = Scenario(
        settings=Settings(pixxel_api_key="px-very-secret"),
        pixxel_jobs=(PixxelJob("wf-1", "job-1"),),
        alteryx_jobs=(AlteryxJob("a", (output,)),),
    )
    async with serve(scenario) as s:
        await s.call("GET", JOB, headers={"Authorization": "px-very-secret"})
        await s.call("GET", JOB)
        await s.call("GET", "/pixxel/v0/no/such", headers={"Authorization": "px-very-secret"})
        token = await s.call(
            "POST",
            "/alteryx/webapi/oauth2/token",
            headers={"Authorization": basic("ayx-id", "ayx-secret")},
            data={"grant_type": "client_credentials"},
        )
        bearer = token.json["access_token"]
        auth = {"Authorization": f"Bearer {bearer}"}
        await s.call("GET", "/alteryx/webapi/v3/jobs/a", headers=auth)
        await s.call("GET", "/alteryx/webapi/v1/jobs/a/output/o1?format=Raw", headers=auth)
        shown = await s.call("GET", "/_emulator/log")
    api = shown.json["api"]
    assert [(r["provider"], r["item"], r["status"], r["authorization"]) for r in api] == [
        ("pixxel", "pixxel:job:wf-1/job-1", 200, True),
        ("pixxel", None, 403, False),
        ("pixxel", None, 404, True),
        ("alteryx", None, 200, True),
        ("alteryx", "alteryx:job:a", 200, True),
        ("alteryx", "alteryx:job:a", 200, True),
    ]
    assert api[0]["path"] == JOB
    assert api[0]["time"] == s.clock.now
    assert len(shown.json["files"]) == 1
    assert shown.json["files"][0]["bytes_sent"] == 100
    for secret in ("px-very-secret", bearer, "ayx-secret"):
        assert secret not in shown.text
    assert len(s.emulator.log) == len(api)


async def test_stats_count_polls_package_requests_creations_and_bytes() -> None:
    catalog = PixxelDownload(DownloadKind.CATALOG, "c-1", (FileEntry("x", 400),))
    scenario = Scenario(
        pixxel_jobs=(PixxelJob("wf-1", "job-1", files=(FileEntry("a.tif", 5000),)),),
        pixxel_downloads=(catalog,),
    )
    async with serve(scenario) as s:
        for _ in range(3):
            await s.call("GET", JOB, headers=KEY)
        url = ""
        for _ in range(2):
            url = (await s.call("PUT", JOB + "/download", headers=KEY)).json["signed_url"]
        package = await s.call("GET", url)
        created = await s.call(
            "POST", "/pixxel/v0/catalogs/download", headers=KEY, json={"catalog_ids": ["c-1"]}
        )
        await s.call("GET", f"/pixxel/v0/catalogs/download/{created.json['id']}", headers=KEY)
        stats = (await s.call("GET", "/_emulator/stats")).json
    job = stats["pixxel:job:wf-1/job-1"]
    assert (job["job_polls"], job["package_requests"], job["api_calls"]) == (3, 2, 5)
    assert job["bytes_served"] == len(package.raw)
    assert stats["pixxel:catalog:c-1"]["downloads_created"] == 1
    assert stats["pixxel:catalog:c-1"]["bytes_served"] == 0


async def test_expected_endpoint_matches_expected_files() -> None:
    scenario = pixxel_job()
    async with serve(scenario) as s:
        shown = (await s.call("GET", "/_emulator/expected")).json
    (package,) = expected_files(scenario)["pixxel:job:wf-1/job-1"]
    (listed,) = shown["pixxel:job:wf-1/job-1"]
    assert (listed["name"], listed["size"], listed["sha256"]) == (
        package.name,
        package.size,
        package.sha256,
    )
    assert [m["name"] for m in listed["members"]] == ["a.tif"]


def test_client_files_parse_as_the_contract_config_and_watchlist(tmp_path: Path) -> None:
    scenario = Scenario(
        settings=Settings(scale_token="sc-tok"),
        pixxel_jobs=(PixxelJob("wf-1", "job-1"),),
        pixxel_tasks=(PixxelTask("wf-1", "job-1", "t-1"),),
        pixxel_downloads=(
            PixxelDownload(DownloadKind.CATALOG, "c-1"),
            PixxelDownload(DownloadKind.ORDER_ITEM, "o-1"),
        ),
        scale_jobs=(ScaleJob(15096),),
        alteryx_jobs=(AlteryxJob("66eb"),),
    )
    written = write_client_files(
        scenario,
        "http://127.0.0.1:9",
        tmp_path / "client",
        archive_root=tmp_path / "archive",
        state_url="sqlite:///state.db",
    )
    config = tomllib.loads(written.config.read_text())
    assert config["archive"]["root"] == str(tmp_path / "archive")
    assert config["state"]["url"] == "sqlite:///state.db"
    assert config["watchlist"]["path"] == str(written.watchlist)
    providers = config["providers"]
    assert providers["pixxel"]["base_url"] == "http://127.0.0.1:9/pixxel"
    assert providers["scale"] == {
        "base_url": "http://127.0.0.1:9/scale",
        "api_version": "v6",
        "token": {"file": str(written.secrets["scale_token"])},
    }
    assert providers["alteryx"]["base_url"] == "http://127.0.0.1:9/alteryx/webapi"
    secret_values = {
        "pixxel_api_key": "px-test-key",
        "scale_token": "sc-tok",
        "alteryx_client_id": "ayx-id",
        "alteryx_client_secret": "ayx-secret",
    }
    for name, value in secret_values.items():
        path = written.secrets[name]
        assert path.read_text() == value
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert value not in written.config.read_text()
    assert Path(providers["pixxel"]["api_key"]["file"]) == written.secrets["pixxel_api_key"]
    watchlist = tomllib.loads(written.watchlist.read_text())
    assert watchlist == {
        "pixxel": {
            "job": [{"workflow_id": "wf-1", "job_id": "job-1"}],
            "task": [{"workflow_id": "wf-1", "job_id": "job-1", "task_id": "t-1"}],
            "catalog": [{"id": "c-1"}],
            "order_item": [{"id": "o-1"}],
        },
        "scale": {"job": [{"id": 15096}]},
        "alteryx": {"job": [{"id": "66eb"}]},
    }


def test_client_files_can_name_the_legacy_scale_api(tmp_path: Path) -> None:
    written = write_client_files(
        Scenario(),
        "http://127.0.0.1:9",
        tmp_path,
        archive_root=tmp_path / "a",
        state_url="sqlite:///s.db",
        scale_api_version="legacy",
    )
    scale = tomllib.loads(written.config.read_text())["providers"]["scale"]
    assert scale == {"base_url": "http://127.0.0.1:9/scale-legacy", "api_version": "legacy"}


async def test_module_runs_as_a_program_prints_its_urls_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('[[scale.job]]\nid = 5\nfiles = [{ name = "f", size = 10 }]\n')
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "downloader.emulator",
        "--port",
        "0",
        "--scenario",
        str(scenario),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        urls = json.loads(line)
        assert urls["base_url"].startswith("http://127.0.0.1:")
        assert urls["pixxel"] == urls["base_url"] + "/pixxel"
        assert urls["scale"] == urls["base_url"] + "/scale"
        assert urls["alteryx"] == urls["base_url"] + "/alteryx/webapi"
        async with (
            aiohttp.ClientSession() as session,
            session.get(urls["scale"] + "/v6/jobs/5/") as response,
        ):
            assert (await response.json())["status"] == "COMPLETED"
    finally:
        process.terminate()
        code = await asyncio.wait_for(process.wait(), timeout=10)
    assert code == 0


async def test_module_refuses_a_bad_scenario_with_exit_code_2(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text("[[scale.job]]\nid = 'x'\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "downloader.emulator",
        "--scenario",
        str(scenario),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 2
    assert b"scale.job[0].id" in stderr


def test_parse_scenario_is_reexported_for_tests_and_demo() -> None:
    assert parse_scenario("").items() == []


async def test_requests_endpoint_counts_logged_api_and_file_host_requests() -> None:
    async with serve(pixxel_job()) as s:
        assert (await s.call("GET", "/_emulator/requests")).json == {"api": 0, "files": 0}
        await s.call("GET", JOB, headers=KEY)
        await s.call("GET", JOB)  # refused, still logged
        await s.call("GET", "/pixxel/v0/workflows/wf-1/jobs", headers=KEY)
        url = (await s.call("PUT", JOB + "/download", headers=KEY)).json["signed_url"]
        await s.call("GET", url)
        await s.call("GET", url, headers={"Range": "bytes=0-9"})
        counted = await s.call("GET", "/_emulator/requests")
        shown = (await s.call("GET", "/_emulator/log")).json
    assert counted.status == 200
    assert counted.json == {"api": 4, "files": 2}
    assert counted.json == {"api": len(shown["api"]), "files": len(shown["files"])}
