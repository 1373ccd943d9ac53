"""A ZIP member damaged in transit is repaired, not failed: its span fetched again."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import bagit
import pytest
import structlog
from aiohttp import web

from downloader.emulator import RunningEmulator
from downloader.emulator._content import SeededContent
from downloader.emulator._digests import digest_headers_for
from downloader.emulator._files import Faults, FileHost, FileSpec, RunningHost
from downloader.runners._status import collect_status, render_text
from downloader.store import ItemState, open_store
from downloader.transfer import MiB
from tests.support.once import once_against
from tests.support.web import serve as serve_routes
from tests.support.worker import http_harness, http_item

KEY = "pixxel:job:wf/one"

SCENARIO = """
[emulator]
seed = 21
pixxel_api_key = "px-repair-key-1"

[[pixxel.job]]
workflow_id = "wf"
job_id = "one"
files = [{{ name = "a.tif", size = 4194304 }}, {{ name = "b.tif", size = 1048576 }},
         {{ name = "c.json", size = 2000 }}]
{extra}
"""
CORRUPT_B = 'corrupt_member = "b.tif"\n'


async def _served(running: RunningEmulator) -> tuple[dict[str, int], list[dict[str, Any]]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(running.base_url + "/_emulator/bytes") as resp:
            served = await resp.json()
        async with session.get(running.base_url + "/_emulator/log") as resp:
            log = (await resp.json())["files"]
    return served, log


def _member_span(package: bytes, name: str) -> tuple[int, int]:
    """Where `name`'s local header starts, and its bytes to the end of its data (the
    emulator writes no extra field)."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        info = archive.getinfo(name)
    return info.header_offset, 30 + len(name.encode()) + info.compress_size


async def _run(tmp_path: Path, extra: str = CORRUPT_B) -> dict[str, Any]:
    with structlog.testing.capture_logs() as logs:
        async with once_against(tmp_path, SCENARIO.format(extra=extra)) as (running, settings):
            served, requests = await _served(running)
            package = running.emulator.ctx.catalogue.package(
                running.emulator.ctx.scenario.pixxel_jobs[0]
            )
            size = package.size
            whole = b"".join(package.iter_range(0, size))
    async with open_store(settings.state.url) as store:
        record = await store.get(KEY)
        (row,) = await collect_status(store, verbose=True)
    (path,) = served
    return {
        "record": record,
        "row": row,
        "served": served[path],
        "requests": [r for r in requests if r["path"] == path],
        "size": size,
        "whole": whole,
        "repaired": [e for e in logs if e["event"] == "item.repaired"],
    }


async def test_a_zip_with_one_flipped_bit_is_archived_after_fetching_only_the_bad_members_span(
    tmp_path: Path,
) -> None:
    got = await _run(tmp_path)
    record = got["record"]
    assert record.state is ItemState.ARCHIVED, record.error
    bag = bagit.Bag(record.archive_path)
    bag.validate()
    (payload,) = (Path(record.archive_path) / "data").iterdir()
    assert payload.read_bytes() == got["whole"]  # the repaired bytes are the served ones
    start, span = _member_span(got["whole"], "b.tif")
    refetched = got["served"] - got["size"]
    assert 0 < refetched <= span + MiB
    assert refetched < got["size"] // 2  # a part, not the whole 5 MiB again
    first, repair = got["requests"]
    assert first["range"] == "bytes=0-"
    assert repair["status"] == 206
    assert repair["headers"]["If-Range"] == f'"c-{got["size"]}-v0"'  # the ETag served
    assert repair["range"] == f"bytes={start}-{start + span - 1}"
    (event,) = got["repaired"]
    assert event["member"] == "b.tif"
    assert event["bytes"] == span
    assert event["how"] == "range"
    assert got["row"]["repairs"] == 1


async def test_a_server_without_ranges_has_the_whole_zip_fetched_again(tmp_path: Path) -> None:
    got = await _run(tmp_path, CORRUPT_B + "faults = { ignore_range = true }")
    record = got["record"]
    assert record.state is ItemState.ARCHIVED, record.error
    bagit.Bag(record.archive_path).validate()
    assert got["served"] == 2 * got["size"]
    assert [r["status"] for r in got["requests"]] == [200, 200]
    (event,) = got["repaired"]
    assert (event["member"], event["how"], event["bytes"]) == ("b.tif", "whole", got["size"])
    assert got["row"]["repairs"] == 1


async def test_an_object_that_changed_before_the_repair_is_fetched_whole_never_spliced(
    tmp_path: Path,
) -> None:
    got = await _run(tmp_path, CORRUPT_B + "faults = { change_etag_every_request = true }")
    record = got["record"]
    assert record.state is ItemState.ARCHIVED, record.error
    bagit.Bag(record.archive_path).validate()
    statuses = [r["status"] for r in got["requests"]]
    # the first fetch, the repair's range refused by If-Range, then the whole file
    assert statuses == [206, 200, 206]
    (event,) = got["repaired"]
    assert event["how"] == "whole"


B_DATA = 30 + len("a.tif") + 4194304 + 30 + len("b.tif")  # where b.tif's data starts


async def test_a_member_that_stays_damaged_fails_naming_it_after_the_repair_budget(
    tmp_path: Path,
) -> None:
    extra = f"faults = {{ flip_byte_at = {B_DATA + 1000}, flip_mask = 1, flip_times = -1 }}"
    got = await _run(tmp_path, extra)
    record = got["record"]
    assert record.state is ItemState.FAILED
    with zipfile.ZipFile(io.BytesIO(got["whole"])) as archive:
        crc = archive.getinfo("b.tif").CRC
    assert "'b.tif'" in record.error
    assert f"expected {crc:08x}" in record.error
    assert "got " in record.error
    # the first fetch, then the three repairs the default budget allows: ranges only
    ranges = [r["range"] for r in got["requests"]]
    assert ranges[0] == "bytes=0-"
    assert len(ranges) == 4
    assert len(set(ranges[1:])) == 1
    assert all(r["headers"].get("If-Range") for r in got["requests"][1:])
    assert len(got["repaired"]) == 3
    assert not (tmp_path / "archive" / "pixxel" / "jobs" / "wf" / "one").exists()
    partial = tmp_path / "archive" / ".partial"
    assert [p for p in partial.rglob("*") if p.is_file()] == []


def _serve_with_md5(host: RunningHost, path: str, **faults: object) -> SeededContent:
    content = SeededContent(7, 3 * MiB)
    spec = FileSpec(path, content, digests=digest_headers_for(content, ["content-md5"]))
    host.host.add(spec, Faults(digest_on_206=True, **faults))  # type: ignore[arg-type]
    return content


async def test_a_file_failing_the_servers_digest_is_fetched_again_and_the_repair_counted(
    tmp_path: Path, file_host: RunningHost
) -> None:
    content = _serve_with_md5(file_host, "/scene.tif", flip_byte_at=5000, flip_mask=1)
    ref = http_item(file_host.url("/scene.tif"), "scene")
    with structlog.testing.capture_logs() as logs:
        async with http_harness(tmp_path, tmp_path / "archive") as h:
            state = await h.work(ref)
            (row,) = await collect_status(h.store, verbose=True)
    assert state is ItemState.ARCHIVED
    bag = bagit.Bag(row["archive_path"])
    bag.validate()
    assert {d["sha256"] for d in bag.payload_entries().values()} == {content.hexdigest()}
    (event,) = [e for e in logs if e["event"] == "item.repaired"]
    assert (event["member"], event["how"], event["bytes"]) == (None, "whole", 3 * MiB)
    assert "md5 mismatch" in event["error"]
    assert row["repairs"] == 1
    assert "repairs: 1" in render_text([row])


async def test_a_file_whose_digest_never_matches_fails_after_the_repair_budget(
    tmp_path: Path, file_host: RunningHost
) -> None:
    _serve_with_md5(file_host, "/scene.tif", flip_byte_at=5000, flip_times=-1)
    ref = http_item(file_host.url("/scene.tif"), "scene")
    async with http_harness(tmp_path, tmp_path / "archive", repair_attempts=2) as h:
        state = await h.work(ref)
        record = await h.store.get(ref.key)
        (row,) = await collect_status(h.store, verbose=True)
    assert state is ItemState.FAILED
    assert record is not None
    assert record.error is not None
    assert "md5 mismatch" in record.error
    assert "expected" in record.error
    # the first fetch and the two whole-file repairs the budget allows, no more
    firsts = [
        r for r in file_host.host.log if r.range is not None and r.range.startswith("bytes=0-")
    ]
    assert len(firsts) == 3
    assert row["archive_path"] is None
    assert row["repairs"] == 2  # counted though they did not help


class _Bytes:
    """Content served from bytes in memory (a deflated ZIP made by the test)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def iter_range(self, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        for at in range(start, end, chunk):
            yield self.data[at : min(end, at + chunk)]

    def digest(self, algorithm: str = "sha256") -> bytes:
        return hashlib.new(algorithm, self.data).digest()


_WORDS = [b"alpha", b"beta", b"gamma", b"delta", b"band", b"pixel", b"scene", b"tile"]


def _deflated_package() -> bytes:
    """A deflated ZIP; its second member compresses well, so a flipped bit in it breaks
    the deflate stream in ways that depend on where it falls."""
    words = random.Random(2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # under the harness's segment_min_size: one stream, which the flip always reaches
        archive.writestr("first.bin", random.Random(1).randbytes(400_000))
        archive.writestr("second.bin", b" ".join(words.choice(_WORDS) for _ in range(60_000)))
        archive.writestr("notes.txt", b"deflated words " * 5000)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("offset", "mask", "damage"),
    [
        (100, 0x10, "invalid distance too far back"),  # zlib refuses the stream
        (1000, 0x01, "holds 337334 bytes"),  # the stream ends early
        (100, 0x01, "produces more than"),  # it runs on past the declared size
        (1000, 0x10, "CRC-32"),  # it inflates, to other bytes
    ],
)
async def test_a_deflated_member_damaged_in_transit_is_repaired_by_its_span(
    tmp_path: Path, file_host: RunningHost, offset: int, mask: int, damage: str
) -> None:
    package = _deflated_package()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        second = archive.getinfo("second.bin")
    data_at = second.header_offset + 30 + len("second.bin")
    faults = Faults(flip_byte_at=data_at + offset, flip_mask=mask)
    file_host.host.add(FileSpec("/package.zip", _Bytes(package)), faults)
    ref = http_item(file_host.url("/package.zip"), "package")
    with structlog.testing.capture_logs() as logs:
        async with http_harness(tmp_path, tmp_path / "archive") as h:
            state = await h.work(ref)
            (row,) = await collect_status(h.store, verbose=True)
    assert state is ItemState.ARCHIVED, row["error"]
    bagit.Bag(row["archive_path"]).validate()
    (payload,) = (Path(row["archive_path"]) / "data").iterdir()
    assert payload.read_bytes() == package
    (event,) = [e for e in logs if e["event"] == "item.repaired"]
    span = data_at + second.compress_size - second.header_offset
    assert (event["member"], event["how"], event["bytes"]) == ("second.bin", "range", span)
    assert damage in event["error"]
    repairs = [r for r in file_host.host.log if r.headers.get("If-Range")]
    assert [r.range for r in repairs] == [
        f"bytes={second.header_offset}-{second.header_offset + span - 1}"
    ]


async def test_a_repair_whose_answer_breaks_off_asks_for_the_span_again(tmp_path: Path) -> None:
    package = _deflated_package()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        second = archive.getinfo("second.bin")
    data_at = second.header_offset + 30 + len("second.bin")
    host = FileHost()
    host.add(
        FileSpec("/package.zip", _Bytes(package)),
        Faults(flip_byte_at=data_at + 1000, flip_mask=0x10),
    )

    async def cut_the_first_repair(request: web.Request) -> web.StreamResponse:
        faults = host.faults("/package.zip")
        if request.headers.get("If-Range") and faults.drop_after_bytes is None:
            faults.drop_after_bytes = 2000  # this answer only: its budget is one
        return await host.handle(request)

    async with serve_routes({"/package.zip": cut_the_first_repair}) as base:
        ref = http_item(f"{base}/package.zip", "package")
        with structlog.testing.capture_logs() as logs:
            async with http_harness(tmp_path, tmp_path / "archive") as h:
                state = await h.work(ref)
                (row,) = await collect_status(h.store, verbose=True)
    assert state is ItemState.ARCHIVED, row["error"]
    (payload,) = (Path(row["archive_path"]) / "data").iterdir()
    assert payload.read_bytes() == package
    repairs = [r for r in host.log if r.headers.get("If-Range")]
    assert [r.bytes_sent for r in repairs] == [2000, repairs[1].bytes_sent]
    assert repairs[0].range == repairs[1].range
    assert [e["how"] for e in logs if e["event"] == "item.repaired"] == ["range"]
    assert [e["event"] for e in logs if e["event"] == "transfer.repair_broken"] == [
        "transfer.repair_broken"
    ]
    assert row["repairs"] == 1  # the broken answer repaired nothing
