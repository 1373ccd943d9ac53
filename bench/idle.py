"""W7 probe: `python bench/idle.py CONFIG EMULATOR_URL WARMUP SECONDS [AFTER]`.

Starts `downloader run -c CONFIG`, lets it settle for WARMUP seconds (with AFTER:
WARMUP seconds after the emulator has answered AFTER API requests, so that the
window is placed on the daemon's own schedule rather than on the wall clock of a
start that a loaded machine may slow down), then measures for SECONDS: the
daemon's CPU time (from /proc, children included), the API requests the emulator
counted, and how many items were asked about at least once in that time, alone or
in a list of their workflow's jobs (every waiting item should be: each has its own
poll schedule).
Prints one JSON object and stops the daemon (SIGTERM).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def answers(base: str) -> dict[str, int]:
    """Answers about each item the emulator knows so far: requests naming it, and
    lists of jobs showing it."""
    with urllib.request.urlopen(base + "/_emulator/stats", timeout=30) as resp:  # loopback
        stats = json.load(resp)
    return {key: int(s["api_calls"]) + int(s.get("listed", 0)) for key, s in stats.items()}


def api_requests(base: str) -> int:
    """API requests the emulator has answered so far."""
    with urllib.request.urlopen(base + "/_emulator/requests", timeout=30) as resp:  # loopback
        return int(json.load(resp)["api"])


def settled(
    base: str, requests: int, daemon: subprocess.Popen[bytes], timeout: float = 300.0
) -> None:
    """Return once the emulator has answered `requests` API requests."""
    deadline = time.monotonic() + timeout
    while api_requests(base) < requests:
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited with {daemon.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the daemon did not make {requests} API requests in {timeout} s")
        time.sleep(0.1)


def main(config: str, base: str, warmup: float, seconds: float, after: int = 0) -> None:
    downloader = str(Path(sys.executable).with_name("downloader"))
    daemon = subprocess.Popen(
        [downloader, "run", "-c", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if after:
            settled(base, after, daemon)
        time.sleep(warmup)
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited with {daemon.returncode}")
        calls0, requests0 = answers(base), api_requests(base)
        cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = cpu_seconds(daemon.pid), time.monotonic()
        calls1, requests1 = answers(base), api_requests(base)
        peak = rss_bytes(daemon.pid)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(3)
        except subprocess.TimeoutExpired:  # its grace period is not what is measured here
            daemon.kill()
            daemon.wait()
    elapsed = t1 - t0
    asked = [key for key, n in calls1.items() if n > calls0.get(key, 0)]
    print(
        json.dumps(
            {
                "cpu %": 100 * (cpu1 - cpu0) / elapsed,
                "API requests/min": 60 * (requests1 - requests0) / elapsed,
                "items asked": len(asked),
                "daemon peak RSS MB": peak / 1e6,
            }
        )
    )


if __name__ == "__main__":
    after = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), after)
