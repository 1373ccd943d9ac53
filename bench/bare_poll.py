"""The least a poll costs an asyncio/aiohttp client: W7's reference row.

`python bench/bare_poll.py BASE_URL KEY_FILE COUNT WORKFLOW` asks the emulated Pixxel
API for each of COUNT jobs (`job-00000`...) once, four at a time on one session: a GET
and a JSON parse, nothing else (no store, no schedule, no lease).  Prints the CPU time
of the polling alone (the imports and start-up left out), per poll, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp


async def poll_all(base: str, key: str, count: int, workflow: str) -> None:
    gate = asyncio.Semaphore(4)
    async with aiohttp.ClientSession(headers={"Authorization": key}) as session:

        async def one(i: int) -> None:
            url = f"{base}/pixxel/v0/workflows/{workflow}/jobs/job-{i:05d}"
            async with gate, session.get(url) as resp:
                resp.raise_for_status()
                if not isinstance(json.loads(await resp.read()), dict):
                    raise SystemExit(f"{url}: not a job object")

        await asyncio.gather(*(one(i) for i in range(count)))


def main() -> int:
    base, key_file, count, workflow = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    key = Path(key_file).read_text().strip()
    started = time.process_time()
    asyncio.run(poll_all(base, key, count, workflow))
    cpu = time.process_time() - started
    print(json.dumps({"polls": count, "cpu s": cpu, "cpu ms per poll": 1000 * cpu / count}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
