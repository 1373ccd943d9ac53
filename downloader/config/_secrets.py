"""Secrets: read from the environment or a file, never from the config itself.

A `Secret` keeps its value out of reprs, logs and tracebacks; code that must
send it calls `reveal()` at the last moment.
"""

from __future__ import annotations

import hmac
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from downloader.config._files import SECRET_LIMIT, expand_path, read_regular

__all__ = ["Secret", "SecretSource", "load_secret"]

_FORMS = '{ env = "NAME" } or { file = "PATH" }'


class Secret:
    """A credential whose value never shows up in `repr()` or `str()`."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str = "") -> None:
        self._value = value
        self.origin = origin
        """Where the value came from (`env:NAME`, `file:/path`): safe to show."""

    def reveal(self) -> str:
        """The actual value; call it only where the secret is put on the wire."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True)
class SecretSource:
    """A loaded secret and the warnings its source deserves."""

    secret: Secret
    warnings: tuple[str, ...] = ()


def load_secret(
    value: object, *, base_dir: Path, environ: Mapping[str, str], resolve: bool = True
) -> SecretSource:
    """Resolve a config value of the form `{ env = "NAME" }` or `{ file = "PATH" }`.

    Relative file paths are taken from `base_dir` (the config file's directory);
    trailing newlines of a file are dropped.  Raises `ValueError` with a message
    fit for a person when the value has the wrong form, the variable is unset,
    or the file cannot be read.  With `resolve` false only the form is checked and
    the secret is empty: for commands that call no platform (`status`, `verify`),
    which an operator runs from a shell that does not hold the service's credentials.
    """
    if isinstance(value, str):
        raise ValueError(f"secrets are never written in the file itself: use {_FORMS}")
    if not isinstance(value, dict) or len(value) != 1 or not ({"env", "file"} & value.keys()):
        raise ValueError(f"a secret is written {_FORMS}")
    (kind, name), *_ = value.items()
    if not isinstance(name, str) or not name:
        raise ValueError(f"the {kind} of a secret must be a non-empty string")
    if kind == "env":
        return SecretSource(_from_env(name, environ) if resolve else Secret("", f"env:{name}"))
    path = base_dir / expand_path(name)
    return _from_file(path) if resolve else SecretSource(Secret("", f"file:{path}"))


def _one_line(value: str, where: str) -> str:
    # A header value cannot hold a line break (the HTTP library refuses to send it, and a
    # server would read the rest as a header of its own); no credential holds one.
    bad = next((ch for ch in value if ord(ch) < 32 or ord(ch) == 127), None)
    if bad is not None:
        name = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)"}.get(
            bad, f"the control character U+{ord(bad):04X}"
        )
        raise ValueError(f"{where} holds {name}; a secret is one line of printable text")
    return value


def _from_env(name: str, environ: Mapping[str, str]) -> Secret:
    if name not in environ:
        raise ValueError(f"environment variable {name} is not set")
    if not environ[name]:
        raise ValueError(f"environment variable {name} is empty")
    return Secret(_one_line(environ[name], f"environment variable {name}"), f"env:{name}")


def _from_file(path: Path) -> SecretSource:
    try:
        read = read_regular(path, limit=SECRET_LIMIT)
    except ValueError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc}") from None
    mode = read.mode
    try:
        text = read.data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ValueError(f"secret file {path} is not UTF-8 text") from exc
    if not text:
        raise ValueError(f"secret file {path} is empty")
    _one_line(text, f"secret file {path}")
    warnings: tuple[str, ...] = ()
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings = (
            f"secret file {path} is readable by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); restrict it with chmod 600",
        )
    return SecretSource(Secret(text, f"file:{path}"), warnings)
