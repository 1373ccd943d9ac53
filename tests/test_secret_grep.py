"""The grep test: after a whole `downloader once` run full of faults that put URLs and
credentials into error texts, no secret value is found anywhere the run leaves text.

Distinctive values for every kind of secret: Pixxel's API key, Scale's token, Alteryx's
client id and secret (and their Basic encoding), the bearer tokens the server issued,
the signatures of the signed URLs it handed out, the signature and the user info of
plain URLs in the watchlist.  Faults that put them into error texts: a 404 on a URL
with user info and a signature, a redirect to a URL the HTTP library refuses (its
error text is that URL, with user info and signature), a corrupt package, expiring
URLs and tokens, an Alteryx output redirected to another origin.  Searched: the bytes
of the state database (and its journal files), `status`, `status --json`, `status -v`,
`check-config`, the run's summary and its log lines (stderr), and every file under
the archive root (the bags' tag files, their STAC Items and Alteryx messages, and the
archive's catalog.json among them).
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import anyio
import pytest

from downloader.emulator import Emulator, parse_scenario
from downloader.emulator._content import SeededContent
from downloader.emulator._filespec import Faults, FileSpec
from tests.support.cli import downloader
from tests.support.client import emulator_client

SCENARIO = """
[emulator]
seed = 11
pixxel_api_key = "px-grep-key-90417"
scale_token = "sc-grep-token-33187"
alteryx_client_id = "ayx-grep-id-55290"
alteryx_client_secret = "ayx-grep-secret-71834"
token_lifetime = 2
url_lifetime = 1
output_redirect_host = "localhost"

[[pixxel.job]]
workflow_id = "wf-g"
job_id = "ok"
polls_until_done = 1
polls_until_ready = 1
files = [{ name = "a.tif", size = 1048576 }]
faults = { rate_bytes_per_s = 1048576, error_statuses = [503] }

[[pixxel.job]]
workflow_id = "wf-g"
job_id = "spoilt"
files = [{ name = "bad.tif", size = 40000 }]
faults = { flip_byte_at = 100, flip_times = -1 }

[[scale.job]]
id = 78
polls_until_done = 1
files = [{ name = "s.tif", size = 100000 }]

[[alteryx.job]]
id = "ayx-g"
polls_until_done = 1
outputs = [{ id = "o1", file_name = "out.csv", size = 60000, formats = ["Raw"] }]
"""

FAST_POLL = '\n[poll]\ninitial_interval = "100ms"\nmax_interval = "500ms"\n'
PLAIN_SIGNATURE = "plainsig0c0ffee77"
USERINFO_PASSWORD = "pw-userinfo-61729"
REDIRECT_SIGNATURE = "redirsig0badcafe33"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return downloader(*args)


def plain_entries(base: str) -> str:
    host = base.removeprefix("http://")
    auth = f"bob:{USERINFO_PASSWORD}@"
    return (
        # archived: its bag must not keep the user info or the signature
        f'\n[[http.file]]\nid = "plain"\n'
        f'url = "http://{auth}{host}/files/plain.bin?X-Amz-Signature={PLAIN_SIGNATURE}"\n'
        # a 404 on a URL carrying both
        f'\n[[http.file]]\nid = "gone"\n'
        f'url = "http://{auth}{host}/files/nowhere.bin?X-Amz-Signature={PLAIN_SIGNATURE}"\n'
        # a redirect the HTTP library refuses: its error text is the target URL
        f'\n[[http.file]]\nid = "refused"\n'
        f'url = "{base}/files/redirect.bin?sig={PLAIN_SIGNATURE}"\n'
    )


@pytest.mark.slow
async def test_no_secret_is_found_in_the_state_database_status_logs_or_bags(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(SCENARIO, source="grep.toml")
    emulator = Emulator(scenario)
    emulator.files.add(FileSpec("/files/plain.bin", SeededContent(3, 30000)))
    target = f"http://eve:{USERINFO_PASSWORD}@127.0.0.1:99999/x.bin?sig={REDIRECT_SIGNATURE}"
    emulator.files.add(
        FileSpec("/files/redirect.bin", SeededContent(4, 10)), Faults(redirect_to=target)
    )
    state_db = tmp_path / "state" / "state.db"
    client = emulator_client(emulator, tmp_path, state_db=state_db, config_tail=FAST_POLL)
    async with client as (running, files):
        with files.watchlist.open("a") as watchlist:
            watchlist.write(plain_entries(running.base_url))
        once = await anyio.to_thread.run_sync(lambda: run("once", "-c", str(files.config)))
        tokens = list(emulator.alteryx.tokens)
        signatures = [m for r in emulator.files.log for m in re.findall(r"sig=(\w+)", r.query)]
    status_text = run("status", "-c", str(files.config))
    status_json = run("status", "--json", "-c", str(files.config))
    status_verbose = run("status", "-v", "-c", str(files.config))
    check = run("check-config", "-c", str(files.config))

    # the run did meet every fault it was meant to
    assert once.returncode == 1, once.stderr[-3000:]
    assert "archived" in status_text.stdout
    assert "InvalidUrlClientError" in status_text.stdout  # the refused redirect's error
    assert "HTTP 404" in status_text.stdout
    assert "CorruptMember" in status_text.stdout
    assert len(list((tmp_path / "archive").rglob("bagit.txt"))) == 4
    assert tokens
    assert len(signatures) >= 2
    assert len(once.stderr.splitlines()) > 10  # the log lines were there to search

    secrets = [
        "px-grep-key-90417",
        "sc-grep-token-33187",
        "ayx-grep-id-55290",
        "ayx-grep-secret-71834",
        base64.b64encode(b"ayx-grep-id-55290:ayx-grep-secret-71834").decode()[:20],
        base64.b64encode(f"bob:{USERINFO_PASSWORD}".encode()).decode()[:12],
        PLAIN_SIGNATURE,
        USERINFO_PASSWORD,
        REDIRECT_SIGNATURE,
        *tokens,
        *signatures,
    ]
    texts = {
        "once stdout (summary)": once.stdout,
        "once stderr (logs)": once.stderr,
        "status": status_text.stdout + status_text.stderr,
        "status --json": status_json.stdout + status_json.stderr,
        "status -v": status_verbose.stdout + status_verbose.stderr,
        "check-config": check.stdout + check.stderr,
    }
    blobs = {str(p): p.read_bytes() for p in (tmp_path / "state").iterdir() if p.is_file()}
    blobs |= {str(p): p.read_bytes() for p in (tmp_path / "archive").rglob("*") if p.is_file()}
    assert any(name.endswith("state.db") for name in blobs)
    for written in ("bag-info.txt", "stac-item.json", "alteryx-messages.json", "catalog.json"):
        assert any(name.endswith(written) for name in blobs), written
    for secret in secrets:
        for where, text in texts.items():
            assert secret not in text, (where, secret)
        for where, blob in blobs.items():
            assert secret.encode() not in blob, (where, secret)
