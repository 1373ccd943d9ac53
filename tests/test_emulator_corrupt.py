"""The `corrupt_member` knob: one bit of one ZIP member flipped on the first response."""

from __future__ import annotations

import io
import zipfile

import pytest

from downloader.emulator import parse_scenario
from downloader.errors import ConfigError
from tests.support.emulator_fixtures import Served, serve

KEY = {"Authorization": "px-test-key"}
JOB = "/pixxel/v0/workflows/wf-1/jobs/job-1"

SCENARIO = """
[[pixxel.job]]
workflow_id = "wf-1"
job_id = "job-1"
files = [{ name = "a.tif", size = 4000 }, { name = "b.tif", size = 6000 }]
corrupt_member = "b.tif"
"""


async def _package_url(s: Served) -> str:
    await s.call("GET", JOB, headers=KEY)
    reply = await s.call("PUT", JOB + "/download", headers=KEY)
    return str(reply.json["signed_url"])


def _differing_bits(one: bytes, other: bytes) -> int:
    assert len(one) == len(other)
    return sum(bin(x ^ y).count("1") for x, y in zip(one, other, strict=True))


async def test_one_bit_of_the_named_member_is_flipped_on_the_first_response_only() -> None:
    async with serve(parse_scenario(SCENARIO)) as s:
        url = await _package_url(s)
        first = (await s.call("GET", url)).raw
        second = (await s.call("GET", url)).raw
        served = (await s.call("GET", "/_emulator/bytes")).json
    assert _differing_bits(first, second) == 1
    with zipfile.ZipFile(io.BytesIO(second)) as intact:
        assert intact.testzip() is None
        b_info = intact.getinfo("b.tif")
    with zipfile.ZipFile(io.BytesIO(first)) as spoiled:
        assert spoiled.testzip() == "b.tif"
    flipped = next(i for i, (x, y) in enumerate(zip(first, second, strict=True)) if x != y)
    assert b_info.header_offset < flipped < b_info.header_offset + 30 + 5 + 6000
    assert served == {url.split("?")[0].removeprefix(s.base): 2 * len(second)}


async def test_a_range_that_misses_the_member_leaves_the_flip_for_a_later_response() -> None:
    async with serve(parse_scenario(SCENARIO)) as s:
        url = await _package_url(s)
        head = await s.call("GET", url, headers={"Range": "bytes=0-99"})
        first = (await s.call("GET", url)).raw
        second = (await s.call("GET", url)).raw
    assert head.status == 206
    assert _differing_bits(first, second) == 1


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (
            '[[pixxel.job]]\nworkflow_id = "w"\njob_id = "j"\n'
            'files = [{ name = "a.tif", size = 10 }]\ncorrupt_member = "z.tif"',
            "no member",
        ),
        (
            '[[alteryx.job]]\nid = "j1"\noutputs = [{ id = "o1", file_name = "r.csv", size = 9 }]'
            '\ncorrupt_member = "r.csv"',
            "needs a ZIP",
        ),
    ],
)
def test_a_corrupt_member_that_names_no_zip_member_is_a_scenario_problem(
    item: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(item)
    assert problem in str(caught.value)
