"""W1 and W2 over HTTPS, W1's first request and its targets: the parts that make those
figures honest, without timing anything.

The HTTPS rows must be trusted the way a user trusts a private CA (the CA's file
given to the client, verification never off); the best-design floor must fetch whole
over that TLS; the first request of a run must be read from its own log lines; and
each W1 target must be measured against the peer it names.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bench.__main__ import wanted
from bench.harness import BEST, Contender, Workload
from bench.nginx import first_request_after
from bench.report import targets_table, workload_table
from bench.single import FIRST, FLOOR_CLIENT
from bench.timing import Timed
from bench.tls import make_certificates
from bench.workloads import nothing

BODY = bytes(range(256)) * 4099  # not a multiple of any block size: an unaligned tail


async def _tls_site(folder: Path) -> tuple[web.AppRunner, str, Path]:
    """An aiohttp server over TLS with a certificate of a fresh throw-away CA."""
    certs = make_certificates(folder)

    async def body(request: web.Request) -> web.StreamResponse:
        return web.Response(body=BODY)

    app = web.Application()
    app.router.add_get("/signed/{name}", body)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    return runner, f"https://127.0.0.1:{port}", certs.ca


async def test_the_throwaway_ca_is_trusted_only_by_a_client_told_of_it(tmp_path: Path) -> None:
    runner, base, ca = await _tls_site(tmp_path / "tls")
    try:
        trusting = ssl.create_default_context(cafile=str(ca))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/signed/x.bin", ssl=trusting) as resp:
                assert await resp.read() == BODY
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with session.get(f"{base}/signed/x.bin") as resp:
                    pass
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("trusted", [True, False])
async def test_the_best_design_floor_fetches_whole_over_tls_and_leaves_no_part(
    tmp_path: Path, trusted: bool
) -> None:
    runner, base, ca = await _tls_site(tmp_path / "tls")
    out = tmp_path / "out"
    out.mkdir()
    trust = ["--cafile", str(ca)] if trusted else []
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            FLOOR_CLIENT,
            f"{base}/signed/x.bin?md5=abc&expires=1",
            str(out / "x.bin"),
            *trust,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        printed, _ = await proc.communicate()
    finally:
        await runner.cleanup()
    if not trusted:
        assert proc.returncode != 0
        assert not (out / "x.bin").exists()
        return
    assert proc.returncode == 0
    assert printed.decode().strip() == hashlib.sha256(BODY).hexdigest()
    assert (out / "x.bin").read_bytes() == BODY
    assert sorted(p.name for p in out.iterdir()) == ["x.bin"]


def test_the_first_request_is_read_from_the_runs_own_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        "\n".join(
            [
                "1000.500 0.400 8080 /signed/w1.bin",  # the last run's: began at 1000.100
                "1010.900 0.100 8443 /signed/w1.bin",  # the other server's
                "1012.000 1.500 8080 /signed/w1.bin",  # began at 1010.500
                "1011.000 0.200 8080 /signed/w1.bin",  # began at 1010.800: not the first
            ]
        )
        + "\n"
    )
    assert first_request_after(log, 1010.0, 8080) == pytest.approx(1010.5)
    assert first_request_after(log, 1010.0, 8443) == pytest.approx(1010.8)
    # nginx rounds both figures to the millisecond: a request may seem to start 2 ms early
    assert first_request_after(log, 1010.502, 8080) == pytest.approx(1010.5)
    assert first_request_after(log, 1013.0, 8080) is None
    assert first_request_after(tmp_path / "none.log", 0.0, 8080) is None


def _row(
    name: str, wall: float, cpu: float, *, subject: bool = False, floor: str = ""
) -> Contender:
    row = Contender(name, lambda run: [], nothing, subject=subject, floor=floor)
    timed = Timed(wall=wall, cpu=cpu, rss=1, stdout="", stderr="", code=0)
    row.runs = [(timed, {FIRST: 500.0} if subject else {})]
    return row


def _w1(key: str) -> Workload:
    return Workload(
        key,
        "one file",
        [
            _row("downloader", 3.0, 4.0, subject=True),
            _row("curl -o", 2.0, 2.0),
            _row("curl -o, then sync the file", 3.0, 2.1),
            _row("aria2c -x1", 3.5, 2.5),
            _row("best design", 2.4, 2.6, floor=BEST),
        ],
        amount=1e9,
        extras=(FIRST,),
    )


def test_each_w1_target_is_measured_against_the_peer_it_names() -> None:
    lines = targets_table({"W1": _w1("W1"), "W1 https": _w1("W1 https")})
    assert "best design, durable (floor)" in lines[0]

    def cells(workload: str, text: str) -> list[str]:
        [line] = [line for line in lines if line.startswith(f"| {workload} | {text} |")]
        return [c.strip() for c in line.strip("|").split("|")][2:]

    # 3.0 / 3.0 against `curl -o && sync`; the floor 2.4 / 3.0
    assert cells("W1", "#22: wall ≤ 0.9 × curl -o, then sync") == [
        "1.00",
        "**not met**",
        "",
        "",
        "0.80 (met)",
    ]
    assert cells("W1", "#22: wall ≤ 1.2 × curl -o")[:2] == ["1.50", "**not met**"]
    assert cells("W1", "#22: CPU ≤ 1.3 × curl -o's")[:2] == ["2.00", "**not met**"]
    assert cells("W1 https", "#22: wall ≤ 1.2 × curl -o, then sync")[:2] == ["1.00", "met"]


def test_a_row_without_a_first_request_shows_a_dash() -> None:
    w1 = _w1("W1")
    w1.load = ["0.1 0.1 0.1"]
    table = workload_table(w1)
    [downloader] = [line for line in table if line.startswith("| downloader |")]
    [curl] = [line for line in table if line.startswith("| curl -o |")]
    assert "| 500.00 |" in downloader
    assert "| — |" in curl


def test_a_target_whose_row_was_not_measured_says_so() -> None:
    w3 = Workload(
        "W3",
        "many files",
        [_row("downloader", 4.0, 4.0, subject=True), _row("aria2c -j16 -i list", 6.0, 1.0)],
        amount=2000,
        unit="files/s",
    )
    lines = [line for line in targets_table({"W3": w3}) if line.startswith("| W3 |")]
    [trips] = [line for line in lines if "store round trips" in line]
    assert "| not measured |" in trips
    [aria2] = [line for line in lines if "#21: files/s ≥ 1.5 × aria2c" in line]
    assert "| 1.50 | met |" in aria2


def test_only_w1_takes_its_https_twin_and_only_the_twin_takes_itself_alone() -> None:
    assert wanted("W1", set())
    assert wanted("W1 https", {"W1"})
    assert wanted("W1 https", {"W1 HTTPS"})
    assert not wanted("W1", {"W1 HTTPS"})
    assert not wanted("W2 https", {"W1"})
    assert wanted("W6a", {"W6"})
    assert wanted("W9", {"W3", "W9"})
