"""A whole `downloader once` run as users meet it: no credential or URL signature in its
output, its status (text and JSON) or its errors; a private archive and state whatever
the caller's umask; a warning for a secret file that others can read.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import anyio

from downloader.emulator import Emulator, parse_scenario
from tests.support.cli import downloader
from tests.support.client import emulator_client

SCENARIO = """
[emulator]
seed = 9
pixxel_api_key = "px-hard-key-8731"
scale_token = "sc-hard-token-5519"
alteryx_client_id = "ayx-hard-id-2207"
alteryx_client_secret = "ayx-hard-secret-6604"
token_lifetime = 2
url_lifetime = 1

[[pixxel.job]]
workflow_id = "wf-h"
job_id = "ok"
polls_until_done = 1
polls_until_ready = 1
files = [{ name = "a.tif", size = 2097152 }]
faults = { rate_bytes_per_s = 1048576 }

[[pixxel.job]]
workflow_id = "wf-h"
job_id = "spoilt"
files = [{ name = "bad.tif", size = 50000 }]
faults = { flip_byte_at = 100, flip_times = -1 }

[[pixxel.catalog]]
id = "cat-h"
polls_until_ready = 1
files = [{ name = "c.tif", size = 300000 }]

[[scale.job]]
id = 77
polls_until_done = 1
files = [{ name = "s.tif", size = 200000 }]

[[alteryx.job]]
id = "ayx-h"
polls_until_done = 1
outputs = [{ id = "o1", file_name = "out.csv", size = 100000, formats = ["Raw"] }]
"""

FAST_POLL = '\n[poll]\ninitial_interval = "100ms"\nmax_interval = "500ms"\n'


def run(*args: str) -> subprocess.CompletedProcess[str]:
    def loose_umask() -> None:
        os.umask(0o022)  # what a careless shell gives

    return downloader(*args, preexec_fn=loose_umask)


async def test_a_whole_run_keeps_secrets_out_of_output_status_and_errors_and_its_files_private(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(SCENARIO, source="hard.toml")
    emulator = Emulator(scenario)
    state_db = tmp_path / "state" / "state.db"
    client = emulator_client(emulator, tmp_path, state_db=state_db, config_tail=FAST_POLL)
    async with client as (running, files):
        files.secrets["scale_token"].chmod(0o644)  # careless: readable by everyone
        # a plain URL whose signature must not show in its error either
        with files.watchlist.open("a") as watchlist:
            watchlist.write(
                '\n[[http.file]]\nid = "gone"\n'
                f'url = "{running.base_url}/nowhere.bin?X-Amz-Signature=feedc0ffee4242"\n'
            )
        once = await anyio.to_thread.run_sync(lambda: run("once", "-c", str(files.config)))
        tokens = list(emulator.alteryx.tokens)
        signatures = [m for r in emulator.files.log for m in re.findall(r"sig=(\w+)", r.query)]
    status_json = run("status", "--json", "-c", str(files.config))
    status_text = run("status", "-v", "-c", str(files.config))
    check = run("check-config", "-c", str(files.config))

    assert once.returncode == 1, once.stderr[-3000:]  # the spoilt job fails, the rest archive
    rows = {row["item"]: row for row in json.loads(status_json.stdout)}
    assert sorted(r["state"] for r in rows.values()).count("archived") == 4
    assert "CorruptMember" in rows["pixxel:job:wf-h/spoilt"]["error"]
    assert rows["http:file:gone"]["error"] == "HTTPStatusError: HTTP 404"
    assert tokens
    assert len(signatures) >= 3
    secrets = [
        "px-hard-key-8731",
        "sc-hard-token-5519",
        "ayx-hard-id-2207",
        "ayx-hard-secret-6604",
        base64.b64encode(b"ayx-hard-id-2207:ayx-hard-secret-6604").decode()[:20],
        "feedc0ffee4242",
        *tokens,
        *signatures,
    ]
    outputs = {
        "once stdout": once.stdout,
        "once stderr (JSON logs)": once.stderr,
        "status --json": status_json.stdout + status_json.stderr,
        "status -v": status_text.stdout + status_text.stderr,
        "check-config": check.stdout + check.stderr,
    }
    assert len(once.stderr.splitlines()) > 10  # the log lines were really there to search
    assert "item.failed" in once.stderr
    for where, text in outputs.items():
        for secret in secrets:
            assert secret not in text, (where, secret)

    # a secret file others can read: a warning at start and from check-config
    warning = "readable by group or others (mode 0644); restrict it with chmod 600"
    assert warning in once.stderr
    assert warning in check.stderr

    # the archive and the state are private although the caller's umask was 022
    made = [tmp_path / "archive", *(tmp_path / "archive").rglob("*")]
    made += [tmp_path / "state", *(tmp_path / "state").glob("*")]
    assert len(made) > 20
    for path in made:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o027 == 0, (path, oct(mode))
