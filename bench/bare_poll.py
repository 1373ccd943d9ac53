"""The least a poll costs an asyncio/aiohttp client: W7's reference rows.

`python bench/bare_poll.py BASE_URL KEY_FILE COUNT WORKFLOW [get|list]` asks the
emulated Pixxel API about COUNT jobs (`job-00000`...), on one session, with no
store, schedule or lease:
- `get` (the default): each job once, four at a time: a GET and a JSON parse each;
- `list`: the list of the workflow's jobs, ten times: a GET and a JSON parse, and
  the status of each job looked up, as one question about all of them.
Prints the CPU time of the asking alone (imports and start-up left out), per
question, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp

LISTS = 10
"""Lists asked for in `list` mode: the CPU of one is their mean."""


async def poll_all(base: str, key: str, count: int, workflow: str) -> int:
    gate = asyncio.Semaphore(4)
    async with aiohttp.ClientSession(headers={"Authorization": key}) as session:

        async def one(i: int) -> None:
            url = f"{base}/pixxel/v0/workflows/{workflow}/jobs/job-{i:05d}"
            async with gate, session.get(url) as resp:
                resp.raise_for_status()
                if not isinstance(json.loads(await resp.read()), dict):
                    raise SystemExit(f"{url}: not a job object")

        await asyncio.gather(*(one(i) for i in range(count)))
    return count


async def list_all(base: str, key: str, count: int, workflow: str) -> int:
    url = f"{base}/pixxel/v0/workflows/{workflow}/jobs"
    wanted = [f"job-{i:05d}" for i in range(count)]
    async with aiohttp.ClientSession(headers={"Authorization": key}) as session:
        for _ in range(LISTS):
            async with session.get(url) as resp:
                resp.raise_for_status()
                jobs = json.loads(await resp.read())["jobs"]
            status = {job["id"]: job["status"] for job in jobs}
            if sum(status.get(job) == "running" for job in wanted) != count:
                raise SystemExit(f"{url}: not every job listed as running")
    return LISTS


def main() -> int:
    base, key_file, count, workflow = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    mode = sys.argv[5] if len(sys.argv) > 5 else "get"
    key = Path(key_file).read_text().strip()
    ask = list_all if mode == "list" else poll_all
    started = time.process_time()
    questions = asyncio.run(ask(base, key, count, workflow))
    cpu = time.process_time() - started
    print(json.dumps({"questions": questions, "cpu s": cpu, "cpu ms each": 1000 * cpu / questions}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
