"""The systemd units in `systemd/`: valid, hardened, and livable for the program.

`systemd-analyze verify` and `security --offline=true` judge the files as shipped,
with one change: `ExecStart=` must name an executable that exists, so the install
path `/opt/downloader/bin/downloader` is pointed at this environment's script.
The last two run `downloader once` and `downloader run` (notify protocol, SIGTERM)
inside the sandbox the units ask for, as far as it can be built here without systemd:
an unprivileged user without capabilities or new privileges, the unit's umask, and a
read-only file system but for the state directory.  Not reproduced here: the seccomp
filter, address-family restrictions and the private namespaces.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import bagit
import pytest

from downloader.config import Settings
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from tests.support.daemon import NotifyListener, Setup, until

UNITS = Path(__file__).resolve().parent.parent / "systemd"
INSTALLED = "/opt/downloader/bin/downloader"
SERVICES = ("downloader.service", "downloader-once.service")
MAX_EXPOSURE = 1.5


def analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail("systemd-analyze is missing; `make test` installs it (Debian: systemd)")
    return path


def directives(unit: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, values in order (keys may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture
def units_here(tmp_path: Path) -> Path:
    """The units, with ExecStart pointing at this environment's `downloader`."""
    script = Path(sys.executable).parent / "downloader"
    assert script.exists(), script
    for unit in UNITS.iterdir():
        text = unit.read_text()
        (tmp_path / unit.name).write_text(text.replace(INSTALLED, str(script)))
    return tmp_path


def test_the_units_name_the_installed_program() -> None:
    for service in SERVICES:
        (exec_start,) = directives(service)["ExecStart"]
        assert exec_start.startswith(INSTALLED + " ")


def test_systemd_analyze_verify_passes_on_every_unit(units_here: Path) -> None:
    files = sorted(str(p) for p in units_here.iterdir())
    assert len(files) == 3
    result = subprocess.run(
        [analyze(), "verify", *files], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_the_services_exposure_is_at_most_one_and_a_half(units_here: Path, service: str) -> None:
    result = subprocess.run(
        [analyze(), "security", "--offline=true", "--no-pager", str(units_here / service)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(rf"Overall exposure level for {re.escape(service)}: ([0-9.]+)", result.stdout)
    assert match is not None, result.stdout
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_the_daemon_unit_speaks_the_notify_protocol_and_outlasts_the_grace_period() -> None:
    unit = directives("downloader.service")
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]
    assert unit["Restart"] == ["on-failure"]
    assert "run" in unit["ExecStart"][0].split()
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert seconds(unit["WatchdogSec"][0]) > 0
    assert seconds(unit["TimeoutStopSec"][0]) > Settings().service.grace_period


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_as_a_dynamic_user_with_state_config_and_credentials(
    service: str,
) -> None:
    unit = directives(service)
    assert unit["DynamicUser"] == ["yes"]
    assert unit["StateDirectory"] == ["downloader"]
    assert unit["ConfigurationDirectory"] == ["downloader"]
    assert unit["LoadCredential"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert unit[key] == ["yes"], key
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["SystemCallFilter"][0] == "@system-service"
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert int(unit["UMask"][0], 8) & 0o027 == 0o027


def test_the_timer_starts_the_batch_service() -> None:
    timer = directives("downloader-once.timer")
    assert timer["Unit"] == ["downloader-once.service"]
    assert timer["OnCalendar"]
    assert timer["Persistent"] == ["yes"]
    once = directives("downloader-once.service")
    assert once["Type"] == ["oneshot"]
    assert "once" in once["ExecStart"][0].split()


def seconds(span: str) -> float:
    units = {"ms": 0.001, "s": 1, "min": 60, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)\s*(ms|s|min|m|h)?", span)
    assert match is not None, span
    return int(match.group(1)) * units[match.group(2) or "s"]


NOBODY = 65534


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state directory an unprivileged user owns (pytest's tmp is root's own)."""
    path = Path(tempfile.mkdtemp(prefix="downloader-unit-", dir="/var/tmp"))
    os.chown(path, NOBODY, NOBODY)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sandboxed(command: list[str], *, writable: Path, umask: str) -> list[str]:
    """`command` as the unit would run it: unprivileged, no capabilities, / read-only."""
    if os.geteuid() != 0:
        pytest.skip("dropping to another user and making a mount namespace needs root")
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (Debian: util-linux)")
    drop = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "--no-new-privs",
        "--bounding-set=-all",
        "--inh-caps=-all",
    ]
    script = (
        "set -e; mount -o remount,bind,ro /; "
        f'mount --bind "{writable}" "{writable}"; mount -o remount,bind,rw "{writable}"; '
        f'umask {umask}; exec "$@"'
    )
    namespace = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    return [*namespace, *drop, *command]


async def test_batch_mode_works_inside_the_units_sandbox(
    file_host: RunningHost, state_dir: Path
) -> None:
    unit = directives("downloader-once.service")
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["CapabilityBoundingSet"] == [""]
    content = SeededContent(71, 3 << 20)
    file_host.host.add(FileSpec("/unit/scene.bin", content))
    watchlist = state_dir / "watchlist.toml"
    watchlist.write_text(
        f'[[http.file]]\nurl = "{file_host.url("/unit/scene.bin")}"\nid = "scene"\n'
        f'sha256 = "{content.hexdigest()}"\n'
    )
    config = state_dir / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{state_dir / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{state_dir / "state.db"}"\n'
        f'[watchlist]\npath = "{watchlist}"\n'
        '[transfer]\nsegment_min_size = "1MiB"\n'
    )
    probe = sandboxed(
        ["sh", "-c", f'touch /var/tmp/outside-{os.getpid()} || touch "{state_dir}/inside"'],
        writable=state_dir,
        umask=unit["UMask"][0],
    )
    await anyio.to_thread.run_sync(
        lambda: subprocess.run(probe, check=True, capture_output=True, timeout=30)
    )
    assert (state_dir / "inside").exists(), "the sandbox left / writable"

    command = [sys.executable, "-m", "downloader", "once", "-c", str(config)]
    sandboxed_command = sandboxed(command, writable=state_dir, umask=unit["UMask"][0])
    result = await anyio.to_thread.run_sync(
        lambda: subprocess.run(sandboxed_command, capture_output=True, text=True, timeout=90)
    )
    assert result.returncode == 0, result.stderr
    assert "1 archived, 0 failed" in result.stdout
    bag_dir = state_dir / "archive" / "http" / "scene"
    bagit.Bag(str(bag_dir)).validate()
    assert (bag_dir / "data" / "scene.bin").read_bytes() == content.read(0, content.size)
    for path in [state_dir / "state.db", bag_dir, *bag_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o007 == 0, f"{path} is open to others: {oct(mode)}"
        assert path.stat().st_uid == NOBODY


async def test_the_daemon_works_and_stops_cleanly_inside_the_units_sandbox(
    file_host: RunningHost, state_dir: Path
) -> None:
    unit = directives("downloader.service")
    content = SeededContent(72, 2 << 20)
    file_host.host.add(FileSpec("/unit/daemon.bin", content))
    setup = Setup(state_dir)
    setup.write_config(check_interval="200ms", grace_period="2s")
    setup.write_watchlist({"scene": file_host.url("/unit/daemon.bin")})
    notify = NotifyListener()
    os.chmod(Path(notify.path).parent, 0o755)
    os.chmod(notify.path, 0o777)  # the unprivileged daemon must be able to send to it
    log = (state_dir / "run.log").open("w")
    command = sandboxed(
        [sys.executable, "-m", "downloader", "run", "-c", str(setup.config)],
        writable=state_dir,
        umask=unit["UMask"][0],
    )
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"},
    )
    try:
        await until(lambda: notify.with_key("READY"), what="READY=1")
        await until(lambda: (setup.bag("scene") / "bagit.txt").is_file(), what="the bag")
        await until(lambda: notify.with_key("WATCHDOG"), what="WATCHDOG=1")
        process.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: process.wait(timeout=30))
        stopping = [m["STOPPING"] for m in notify.with_key("STOPPING")]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        notify.close()
    assert code == 0, (state_dir / "run.log").read_text()
    assert stopping == ["1"]
    bagit.Bag(str(setup.bag("scene"))).validate()
    payload = setup.bag("scene") / "data" / "daemon.bin"
    assert payload.read_bytes() == content.read(0, content.size)
    for path in [state_dir / "state.db", *setup.bag("scene").rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, path
        assert path.stat().st_uid == NOBODY
