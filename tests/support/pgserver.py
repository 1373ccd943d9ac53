"""A throwaway PostgreSQL server on loopback for the tests.

`PgServer.start()` runs `initdb` into a fresh temporary directory and starts the
server with `pg_ctl` on a free port of 127.0.0.1 (and a socket in the same
directory); `stop()` stops it and removes everything.  PostgreSQL refuses to run
as root, so under root the server runs as the `postgres` system user (created
by Debian's `postgresql` package, which `make test` installs when missing).

Connections over TCP need a password (SCRAM), so the tests use URLs that carry
one, as a real deployment's might.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
PASSWORD = "s3cret-Pw-9f2c"
"""The throwaway server's password; the tests check it never shows in an error."""


def _bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) are missing: run `make test`, "
        "which installs Debian's postgresql package"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_REMOVE_LATER = 'rm -rf -- "$1" </dev/null >/dev/null 2>&1 &'
"""The shell returns at once; rm, holding none of our pipes open, is left to init."""


@dataclass
class PgServer:
    """One running server; `url(db)` names a database on it."""

    base: Path
    port: int
    bindir: Path
    _as_user: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> PgServer:
        bindir = _bindir()
        base = Path(tempfile.mkdtemp(prefix="downloader-pg-"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(base, account.pw_uid, account.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        server = cls(base, _free_port(), bindir, as_user)
        (base / "pw").write_text(PASSWORD + "\n")
        if as_user:
            os.chown(base / "pw", account.pw_uid, account.pw_gid)
        server._run(
            "initdb",
            "-D",
            str(base / "data"),
            "-U",
            SUPERUSER,
            "--pwfile",
            str(base / "pw"),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300"
        )
        server._run(
            "pg_ctl", "-D", str(base / "data"), "-l", str(base / "log"), "-o", options, "-w",
            "start",
        )  # fmt: skip
        return server

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self._as_user, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.base,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}):\n{result.stderr}")

    def url(self, database: str = "postgres", *, password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` as the superuser over the socket; returns what psql printed."""
        result = subprocess.run(
            [*self._as_user, str(self.bindir / "psql"), "-h", str(self.base), "-p",
             str(self.port), "-U", SUPERUSER, "-d", database, "-XAtq", "-v",
             "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True, text=True, timeout=60, cwd=self.base,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout

    def new_database(self) -> str:
        """A fresh, empty database; returns its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def stop(self, *, wait: bool = True) -> None:
        """Stop the server and remove its files; with `wait=False` they are removed in
        the background: a session's databases are thousands of files, which a busy
        disk took up to a minute to unlink at the end of a test run."""
        try:
            self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop")
        finally:
            if wait:
                shutil.rmtree(self.base, ignore_errors=True)
            else:
                subprocess.run(["sh", "-c", _REMOVE_LATER, "sh", str(self.base)], check=False)
