"""Benchmark: one 2 GiB generated file with segments; wall time and peak RSS.

Run with `python -m bench.engine_2gib [SIZE]`.  Starts a loopback file host,
fetches the file with the engine (segmented, verified, promoted) and with
`curl -o` for reference, each under `/usr/bin/time -v`, and checks SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from downloader.config import parse_size
from downloader.emulator._content import SeededContent

SEED = 7


def timed(cmd: list[str]) -> tuple[float, int, str]:
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    assert wall, out.stderr
    assert rss, out.stderr
    hours = int(wall[1] or 0)
    seconds = hours * 3600 + int(wall[2]) * 60 + float(wall[3])
    return seconds, int(rss[1]) * 1024, out.stdout


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def main() -> None:
    size = parse_size(sys.argv[1] if len(sys.argv) > 1 else "2GiB")
    expected = SeededContent(SEED, size).hexdigest()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.serve", str(size), str(SEED)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
            rows = []
            ours = Path(tmp) / "ours"
            for segments in (4, 1):
                cmd = [sys.executable, "-m", "bench.fetch_one", url, str(ours), str(segments)]
                wall, rss, out = timed(cmd)
                ok = out.strip() == expected and sha256_of(ours / "bench.bin") == expected
                rows.append((f"downloader ({segments} segment(s), sha256, fsync)", wall, rss, ok))
                shutil.rmtree(ours)
            if shutil.which("curl"):
                target = Path(tmp) / "curl.bin"
                wall, rss, _ = timed(["curl", "-sS", "-o", str(target), url])
                rows.append(("curl -o", wall, rss, sha256_of(target) == expected))
    finally:
        server.terminate()
        server.wait()
    print(f"file: {size} bytes ({size / 2**30:.2f} GiB), loopback, Python file host")
    print(f"{'tool':42} {'wall s':>8} {'MB/s':>8} {'peak RSS MB':>12} {'sha256 ok':>10}")
    for name, wall, rss, ok in rows:
        print(f"{name:42} {wall:8.2f} {size / wall / 1e6:8.0f} {rss / 1e6:12.1f} {ok!s:>10}")
    if not all(ok for *_, ok in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
