"""Run Python code under the seccomp filters a systemd unit asks for, without systemd.

    python tests/support/seccomp.py UNIT -m MODULE [ARG ...]
    python tests/support/seccomp.py UNIT -c CODE [ARG ...]

Reads `SystemCallFilter=`, `SystemCallErrorNumber=`, `RestrictAddressFamilies=` and
`MemoryDenyWriteExecute=` from UNIT, builds the filters the way the service manager
does (one filter per setting, stacked: the kernel applies the strictest answer), loads
them through libseccomp and runs MODULE (or CODE) in this same process, the way
`python -m` (or `-c`) would.  No second `execve`: the interpreter may live where the
unprivileged user could not start it again.  The system call groups (`@system-service`
and so on) are expanded by `systemd-analyze syscall-filter`, so they are the groups of
the systemd on this machine.  Loading a filter needs no privilege once no-new-privileges
is set (`setpriv --no-new-privs`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import runpy
import socket
import subprocess
import sys
from pathlib import Path

ACT_ALLOW = 0x7FFF0000
CMP_EQ, CMP_GT, CMP_MASKED_EQ = 4, 6, 7
PROT_WRITE, PROT_EXEC = 0x2, 0x4
MAX_FAMILY = 64


def act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _libseccomp() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


class Filter:
    """One seccomp filter: a default action and rules, loaded on `load()`."""

    def __init__(self, lib: ctypes.CDLL, default: int) -> None:
        self.lib = lib
        self.ctx = lib.seccomp_init(default)
        if not self.ctx:
            raise OSError("seccomp_init failed")

    def rule(self, action: int, name: str, *cmps: tuple[int, int, int, int]) -> bool:
        number = self.lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            return False  # not a system call of this architecture
        array = (ArgCmp * max(1, len(cmps)))(*(ArgCmp(*c) for c in cmps))
        code = self.lib.seccomp_rule_add_array(self.ctx, action, number, len(cmps), array)
        if code < 0 and code != -errno.EEXIST:
            raise OSError(-code, f"seccomp rule for {name}")
        return True

    def load(self) -> None:
        code = self.lib.seccomp_load(self.ctx)
        self.lib.seccomp_release(self.ctx)
        if code < 0:
            raise OSError(-code, "seccomp_load")


def syscall_groups() -> dict[str, list[str]]:
    """Every `@group` systemd knows, with its members (names and `@groups`)."""
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter", "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    found: set[str] = set()
    for name in names:
        if name.startswith("@"):
            found |= expand(groups[name], groups)
        else:
            found.add(name)
    return found


def unit_settings(unit: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def allowed_syscalls(values: list[str], groups: dict[str, list[str]]) -> set[str]:
    """`SystemCallFilter=` lines in order: an allow list, then `~` lines taking away."""
    allowed: set[str] = set()
    for value in values:
        if value.startswith("~"):
            allowed -= expand(value[1:].split(), groups)
        else:
            allowed |= expand(value.split(), groups)
    return allowed


def build_filters(unit: Path) -> list[Filter]:
    """The unit's filters in loading order.

    The system call allow list comes last: once it is loaded, it may not allow loading
    another filter.
    """
    lib = _libseccomp()
    settings = unit_settings(unit)
    filters: list[Filter] = []
    if "RestrictAddressFamilies" in settings:
        families = {int(getattr(socket, f)) for f in settings["RestrictAddressFamilies"][0].split()}
        sockets = Filter(lib, ACT_ALLOW)
        refuse = act_errno(errno.EAFNOSUPPORT)
        for family in range(MAX_FAMILY):
            if family not in families:
                sockets.rule(refuse, "socket", (0, CMP_EQ, family, 0))
        sockets.rule(refuse, "socket", (0, CMP_GT, MAX_FAMILY - 1, 0))
        filters.append(sockets)
    if settings.get("MemoryDenyWriteExecute") == ["yes"]:
        memory = Filter(lib, ACT_ALLOW)
        both = PROT_WRITE | PROT_EXEC
        memory.rule(act_errno(errno.EPERM), "mmap", (2, CMP_MASKED_EQ, both, both))
        for name in ("mprotect", "pkey_mprotect"):
            memory.rule(act_errno(errno.EPERM), name, (2, CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        filters.append(memory)
    if "SystemCallFilter" in settings:
        (error_name,) = settings.get("SystemCallErrorNumber", ["EPERM"])
        calls = Filter(lib, act_errno(getattr(errno, error_name)))
        for name in sorted(allowed_syscalls(settings["SystemCallFilter"], syscall_groups())):
            calls.rule(ACT_ALLOW, name)
        filters.append(calls)
    return filters


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] not in ("-m", "-c"):
        raise SystemExit(__doc__)
    unit, flag, target, *args = argv
    filters = build_filters(Path(unit))
    for f in filters:
        f.load()
    if flag == "-m":
        sys.argv = [target, *args]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c", *args]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main(sys.argv[1:])
