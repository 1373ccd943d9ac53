from __future__ import annotations

import hashlib

from downloader.emulator import (
    AlteryxJob,
    AlteryxMessage,
    AlteryxOutput,
    Scenario,
    Settings,
    Timing,
    expected_files,
)
from tests.support.emulator_fixtures import basic, bearer, serve

API = "/alteryx/webapi"
OUTPUTS = (
    AlteryxOutput("o1", "zonal.csv", 3000, ("Raw", "Csv")),
    AlteryxOutput("o2", "summary.xlsx", 500),
)
MESSAGES = (AlteryxMessage(1, "Workflow started", 0), AlteryxMessage(2, "Tool warning", 7))


def alteryx(*jobs: AlteryxJob, lifetime: float = 3600) -> Scenario:
    return Scenario(settings=Settings(token_lifetime=lifetime), alteryx_jobs=jobs)


async def test_token_then_job_then_each_output_in_each_format() -> None:
    scenario = alteryx(AlteryxJob("66eb", OUTPUTS, done=Timing(polls=2), messages=MESSAGES))
    async with serve(scenario) as s:
        token = await s.call(
            "POST",
            API + "/oauth2/token",
            headers={"Authorization": basic("ayx-id", "ayx-secret")},
            data={"grant_type": "client_credentials"},
        )
        assert token.json["token_type"] == "bearer"
        assert token.json["expires_in"] == 3600
        auth = {"Authorization": f"Bearer {token.json['access_token']}"}
        jobs = [(await s.call("GET", API + "/v3/jobs/66eb", headers=auth)).json for _ in range(3)]
        assert [j["status"] for j in jobs] == ["Queued", "Running", "Completed"]
        assert jobs[0]["outputs"] == []
        job = jobs[2]
        assert job["disposition"] == "Success"
        assert job["messages"] == [
            {"status": 1, "text": "Workflow started", "toolId": 0},
            {"status": 2, "text": "Tool warning", "toolId": 7},
        ]
        assert job["outputs"][0] == {
            "id": "o1",
            "availableFormats": ["Raw", "Csv"],
            "fileName": "zonal.csv",
        }
        expected = {
            (f.name, f.format): f.sha256 for f in expected_files(scenario)["alteryx:job:66eb"]
        }
        got = {}
        for output in job["outputs"]:
            for fmt in output["availableFormats"]:
                path = f"{API}/v1/jobs/66eb/output/{output['id']}?format={fmt}"
                reply = await s.call("GET", path, headers=auth)
                assert reply.status == 200
                name = reply.headers["Content-Disposition"].split('filename="')[1].rstrip('"')
                got[(name, fmt)] = hashlib.sha256(reply.raw).hexdigest()
        assert got == expected
        assert got[("zonal.csv", "Raw")] != got[("zonal.csv", "Csv")]


async def test_outputs_can_be_fetched_by_range() -> None:
    async with serve(alteryx(AlteryxJob("j", OUTPUTS))) as s:
        auth = await bearer(s)
        await s.call("GET", API + "/v3/jobs/j", headers=auth)
        path = f"{API}/v1/jobs/j/output/o1?format=Raw"
        whole = await s.call("GET", path, headers=auth)
        part = await s.call("GET", path, headers={**auth, "Range": "bytes=100-199"})
        assert part.status == 206
        assert part.raw == whole.raw[100:200]


async def test_token_endpoint_wants_basic_client_credentials() -> None:
    async with serve(alteryx()) as s:
        form = {"grant_type": "client_credentials"}
        wrong = await s.call(
            "POST",
            API + "/oauth2/token",
            data=form,
            headers={"Authorization": basic("ayx-id", "nope")},
        )
        assert (wrong.status, wrong.json["error"]) == (401, "invalid_client")
        in_body = await s.call(
            "POST",
            API + "/oauth2/token",
            data={**form, "client_id": "ayx-id", "client_secret": "ayx-secret"},
        )
        assert in_body.status == 401
        grant = await s.call(
            "POST",
            API + "/oauth2/token",
            data={"grant_type": "password"},
            headers={"Authorization": basic("ayx-id", "ayx-secret")},
        )
        assert (grant.status, grant.json["error"]) == (400, "unsupported_grant_type")


async def test_api_calls_need_a_live_bearer_token() -> None:
    async with serve(alteryx(AlteryxJob("j"), lifetime=60)) as s:
        missing = await s.call("GET", API + "/v3/jobs/j")
        assert missing.status == 401
        assert "message" in missing.json
        bogus = await s.call("GET", API + "/v3/jobs/j", headers={"Authorization": "Bearer x"})
        assert bogus.status == 401
        auth = await bearer(s)
        assert (await s.call("GET", API + "/v3/jobs/j", headers=auth)).status == 200
        s.clock.advance(60)
        expired = await s.call("GET", API + "/v3/jobs/j", headers=auth)
        assert expired.status == 401
        assert (await s.call("GET", API + "/v3/jobs/j", headers=await bearer(s))).status == 200


async def test_include_messages_false_gives_the_reduced_object() -> None:
    async with serve(alteryx(AlteryxJob("j", messages=MESSAGES))) as s:
        auth = await bearer(s)
        reply = await s.call("GET", API + "/v3/jobs/j?includeMessages=false", headers=auth)
        assert "messages" not in reply.json
        assert reply.json["status"] == "Completed"


async def test_failed_job_completes_with_error_disposition_and_message() -> None:
    async with serve(alteryx(AlteryxJob("j", OUTPUTS, fail="Tool #3: file not found"))) as s:
        job = (await s.call("GET", API + "/v3/jobs/j", headers=await bearer(s))).json
        assert (job["status"], job["disposition"]) == ("Completed", "Error")
        assert job["messages"][-1] == {"status": 3, "text": "Tool #3: file not found", "toolId": 0}


async def test_cancelled_job() -> None:
    async with serve(alteryx(AlteryxJob("j", OUTPUTS, cancel=True))) as s:
        job = (await s.call("GET", API + "/v3/jobs/j", headers=await bearer(s))).json
        assert job["status"] == "Cancelled"
        assert job["outputs"] == []


async def test_output_requests_are_checked() -> None:
    async with serve(alteryx(AlteryxJob("j", OUTPUTS, done=Timing(polls=1)))) as s:
        auth = await bearer(s)
        early = await s.call("GET", f"{API}/v1/jobs/j/output/o1?format=Raw", headers=auth)
        assert early.status == 404
        await s.call("GET", API + "/v3/jobs/j", headers=auth)
        await s.call("GET", API + "/v3/jobs/j", headers=auth)
        no_format = await s.call("GET", f"{API}/v1/jobs/j/output/o1", headers=auth)
        assert no_format.status == 400
        other = await s.call("GET", f"{API}/v1/jobs/j/output/o2?format=Csv", headers=auth)
        assert other.status == 400
        assert "Csv" in other.json["message"]
        unknown = await s.call("GET", f"{API}/v1/jobs/j/output/o9?format=Raw", headers=auth)
        assert unknown.status == 404
        assert (await s.call("GET", API + "/v3/jobs/nope", headers=auth)).status == 404
