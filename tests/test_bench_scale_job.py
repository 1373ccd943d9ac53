"""W9's data and check: the Scale job's files are the emulator's own bytes, kept with
their digests, and a run counts only if every file is archived whole in a bag that
vouches for it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.data import DataSet
from bench.scale_job import JOB, check_bag, materialize, scenario_text
from bench.timing import Timed
from bench.workloads import WrongBytes
from downloader.emulator import parse_scenario

TIMED = Timed(wall=1, cpu=1, rss=1, stdout="", stderr="", code=0)


def test_the_scenario_is_one_scale_job_with_every_file() -> None:
    scenario = parse_scenario(scenario_text(5, 4096), source="w9.toml")
    [job] = scenario.scale_jobs
    assert job.id == JOB
    assert [(f.name, f.size) for f in job.files] == [(f"f-{i:04d}.bin", 4096) for i in range(5)]


def test_the_files_are_the_emulators_and_made_once(tmp_path: Path) -> None:
    data = DataSet(tmp_path / "data")
    files = materialize(data, tmp_path / "work", 3, 70_000)
    assert [name for name, _, _ in files] == ["f-0000.bin", "f-0001.bin", "f-0002.bin"]
    for name, host_path, sha in files:
        path = data.root / f"emulated{host_path}"
        assert host_path.startswith(f"/files/scale/{JOB}/")
        assert host_path.endswith(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
        assert path.stat().st_size == 70_000
    stamps = [(data.root / f"emulated{p}").stat().st_mtime_ns for _, p, _ in files]
    assert materialize(data, tmp_path / "work", 3, 70_000) == files
    assert [(data.root / f"emulated{p}").stat().st_mtime_ns for _, p, _ in files] == stamps


def _bag(run: Path, files: dict[str, bytes], vouched: dict[str, bytes]) -> None:
    bag = run / "archive" / "scale" / str(JOB)
    (bag / "data").mkdir(parents=True)
    for name, body in files.items():
        (bag / "data" / name).write_bytes(body)
    (bag / "manifest-sha256.txt").write_text(
        "".join(f"{hashlib.sha256(b).hexdigest()}  data/{n}\n" for n, b in vouched.items())
    )


def test_the_check_wants_every_file_whole_and_vouched_for(tmp_path: Path) -> None:
    bodies = {f"f-{i:04d}.bin": bytes([i]) * 5000 for i in range(3)}
    files = [(n, f"/files/{n}", hashlib.sha256(b).hexdigest()) for n, b in bodies.items()]
    _bag(tmp_path / "ok", bodies, bodies)
    assert check_bag(files)(tmp_path / "ok", TIMED) == {}

    _bag(tmp_path / "short", dict(list(bodies.items())[:2]), bodies)
    with pytest.raises(WrongBytes, match="1 files not archived"):
        check_bag(files)(tmp_path / "short", TIMED)

    _bag(tmp_path / "wrong", {**bodies, "f-0001.bin": b"x" * 5000}, bodies)
    with pytest.raises(WrongBytes, match="sha256"):
        check_bag(files)(tmp_path / "wrong", TIMED)

    _bag(tmp_path / "unvouched", bodies, dict(list(bodies.items())[1:]))
    with pytest.raises(WrongBytes, match="manifest"):
        check_bag(files)(tmp_path / "unvouched", TIMED)
