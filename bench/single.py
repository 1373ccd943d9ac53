"""W1 and W2, one large file, over HTTP and over HTTPS ("W1 https", "W2 https").

Over HTTPS nginx serves the same file with a certificate of the bench's throw-away
CA (`bench/tls.py`), and every client trusts that CA as a user would tell it to.
Each row of W1 also reports when nginx saw its first request, counted from the
launch of its command ("first request ms"): for the downloader, what its start-up
(imports, config, store) costs before it asks anything.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from bench import tools
from bench.data import DataSet
from bench.harness import BEST, DURABLE, PLAIN, Check, Contender, Workload
from bench.nginx import Nginx, first_request_after
from bench.timing import Timed
from bench.tools import Fetch
from bench.workloads import check_plain, digest_printed, downloader, nothing

FLOOR_CLIENT = str(Path(__file__).with_name("floor_client.py"))
FIRST = "first request ms"


def dated(check: Check, server: Nginx, tls: bool) -> Check:
    """`check`, and when nginx saw the run's first request, in ms from its launch."""

    def both(run: Path, result: Timed) -> dict[str, float]:
        extra = check(run, result)
        port = server.tls_port if tls else server.port
        began = first_request_after(server.work / "access.log", result.started, port)
        if began is not None:
            extra[FIRST] = max(0.0, (began - result.started) * 1000)
        return extra

    return both


def floor_client(fetch: Fetch, run: Path) -> list[str]:
    """The best design measured for one large body (`bench/floor_client.py`)."""
    ca = ["--cafile", fetch.ca] if fetch.ca else []
    return [sys.executable, FLOOR_CLIENT, fetch.url, str(run / fetch.name), *ca]


def single(
    key: str,
    title: str,
    data: DataSet,
    location: str,
    name: str,
    size: int,
    seed: int,
    server: Nginx,
    tls: bool,
    contenders: Callable[[Fetch], list[Contender]],
) -> Workload:
    sha = data.ensure(name, size, seed)
    url = server.url(location, name, expires_in=86400, tls=tls)
    fetch = Fetch(url, name, sha, key.split()[0].lower(), server.ca if tls else "")
    extras = (FIRST,) if key.startswith("W1") else ()
    return Workload(
        key, title, contenders(fetch), amount=size, warm=lambda: data.warm([name]), extras=extras
    )


def w1(data: DataSet, server: Nginx, size: int, *, tls: bool = False) -> Workload:
    def contenders(f: Fetch) -> list[Contender]:
        one = [f]
        trust = {"ca_file": f.ca} if tls else {}

        def row(name: str, cmd: Callable[[Path], list[str]], floor: str = "") -> Contender:
            return Contender(name, cmd, dated(check_plain(one), server, tls), floor=floor)

        subject = downloader(one, trust)
        subject.check = dated(subject.check, server, tls)
        rows = [
            subject,
            row("curl -o", lambda run: tools.curl_one(f, run / f.name)),
            row(
                "curl -o, then sync the file",
                lambda run: tools.then_sync(tools.curl_one(f, run / f.name), run / f.name),
            ),
            row("aria2c -x1", lambda run: tools.aria2_one(f, run, 1)),
        ]
        if not tls:
            rows += [
                row("aria2c -x8 -s8", lambda run: tools.aria2_one(f, run, 8)),
                row(
                    "bare aiohttp client, one stream (reference: no state, bag or fsync)",
                    lambda run: tools.bare_many(one, run, 1, beside=True),
                    floor=PLAIN,
                ),
                row(
                    "the same, the file fsynced and renamed (reference: no state or bag)",
                    lambda run: tools.bare_many(one, run, 1, beside=True, durable=True),
                    floor=DURABLE,
                ),
            ]
        rows.append(
            row(
                "best design: BufferedProtocol + O_DIRECT + hash thread, fsynced and renamed"
                " (reference: no state or bag)",
                lambda run: floor_client(f, run),
                floor=BEST,
            )
        )
        if not tls:
            rows += [
                Contender(
                    "curl -o /dev/null (ceiling)",
                    lambda run: tools.curl_one(f, "/dev/null"),
                    nothing,
                ),
                Contender(
                    "SHA-256 of the file alone (openssl dgst)",
                    lambda run: ["openssl", "dgst", "-sha256", "-r", str(data.root / f.name)],
                    digest_printed(f.sha256),
                    once=True,
                ),
            ]
        return rows

    scheme = "HTTPS, " if tls else ""
    title = f"one {size / 2**30:g} GiB file, unthrottled, {scheme}signed URL (secure_link)"
    key = "W1 https" if tls else "W1"
    return single(key, title, data, "signed", "w1.bin", size, 1, server, tls, contenders)


def w2(data: DataSet, server: Nginx, size: int, *, tls: bool = False) -> Workload:
    def contenders(f: Fetch) -> list[Contender]:
        one = [f]
        eight: dict[str, object] = {"segments": 8, "max_per_host": 8}
        if tls:
            eight["ca_file"] = f.ca
        return [
            downloader(one, eight, "downloader, 8 segments"),
            Contender("aria2c -x8 -s8", lambda run: tools.aria2_one(f, run, 8), check_plain(one)),
            # one stream at 25 MB/s takes 40 s a GiB; no target over TLS asks for it
            Contender(
                "curl -o",
                lambda run: tools.curl_one(f, run / f.name),
                check_plain(one),
                once=tls,
            ),
        ]

    scheme = ", HTTPS" if tls else ""
    title = f"one {size / 2**30:g} GiB file, limit_rate 25 MB/s per connection{scheme}"
    key = "W2 https" if tls else "W2"
    return single(key, title, data, "throttled", "w2.bin", size, 2, server, tls, contenders)
