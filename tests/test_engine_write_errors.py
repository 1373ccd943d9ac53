"""A write the disk refuses (not for want of room) ends the transfer with that OSError,
through the data path's threads or when a body held in memory is written out, and keeps
what is on disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import asyncio, errno, resource, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from aiohttp import web
from downloader.transfer import AssetRequest
from tests.support.engine import make_engine

size, tmp = int(sys.argv[1]), Path(sys.argv[2])
body = bytes(range(256)) * (size // 256)

async def main():
    async def handler(request):
        return web.Response(body=body, headers={"ETag": '"e"'})
    app = web.Application()
    app.router.add_get("/f", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    # files this process writes may not pass 100 kB: a write past it fails with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    try:
        async with make_engine(tmp) as (engine, _):
            await engine.fetch(AssetRequest("k", url=f"http://127.0.0.1:{port}/f"), tmp / "out")
        print("fetched")
    except OSError as exc:
        print("refused", errno.errorcode[exc.errno])
    finally:
        await runner.cleanup()

asyncio.run(asyncio.wait_for(main(), 60))
"""


@pytest.mark.parametrize("size", [200 * 1024, 3 * 1024 * 1024])  # held, then written out; threads
def test_a_write_the_disk_refuses_ends_the_transfer_with_its_error(
    tmp_path: Path, size: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(size), str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.split() == ["refused", "EFBIG"], done.stderr[-2000:]
    assert not (tmp_path / "out" / "f").exists()
