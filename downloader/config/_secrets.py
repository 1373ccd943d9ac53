"""Secrets: read from the environment or a file, never from the config itself.

A `Secret` keeps its value out of reprs, logs and tracebacks; code that must
send it calls `reveal()` at the last moment.
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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


def load_secret(value: object, *, base_dir: Path, environ: Mapping[str, str]) -> SecretSource:
    """Resolve a config value of the form `{ env = "NAME" }` or `{ file = "PATH" }`.

    Relative file paths are taken from `base_dir` (the config file's directory);
    trailing newlines of a file are dropped.  Raises `ValueError` with a message
    fit for a person when the value has the wrong form, the variable is unset,
    or the file cannot be read.
    """
    if isinstance(value, str):
        raise ValueError(f"secrets are never written in the file itself: use {_FORMS}")
    if not isinstance(value, dict) or len(value) != 1 or not ({"env", "file"} & value.keys()):
        raise ValueError(f"a secret is written {_FORMS}")
    (kind, name), *_ = value.items()
    if not isinstance(name, str) or not name:
        raise ValueError(f"the {kind} of a secret must be a non-empty string")
    if kind == "env":
        return SecretSource(_from_env(name, environ))
    return _from_file(base_dir / Path(name).expanduser())


def _from_env(name: str, environ: Mapping[str, str]) -> Secret:
    if name not in environ:
        raise ValueError(f"environment variable {name} is not set")
    if not environ[name]:
        raise ValueError(f"environment variable {name} is empty")
    return Secret(environ[name], f"env:{name}")


def _from_file(path: Path) -> SecretSource:
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            raw = handle.read()
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ValueError(f"secret file {path} is not UTF-8 text") from exc
    if not text:
        raise ValueError(f"secret file {path} is empty")
    warnings: tuple[str, ...] = ()
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings = (
            f"secret file {path} is readable by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); restrict it with chmod 600",
        )
    return SecretSource(Secret(text, f"file:{path}"), warnings)
