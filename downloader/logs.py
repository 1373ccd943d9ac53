"""Logging: structlog, JSON lines for journald, readable lines on a terminal.

A redaction processor runs last before rendering: it replaces every registered
secret value (API keys, client secrets, tokens) and every URL query string in
any string field, so a secret that slips into an event is still never written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO


def _load_structlog_without_rich() -> None:
    """Import structlog with rich hidden from it.

    structlog loads rich, when it is installed, for pretty console tracebacks.  This
    program renders its own log lines (JSON, or structlog's plain console lines) and
    uses rich only for the progress table on a terminal, which imports it then.
    Hidden, every start is about 0.4 s and 3 MB lighter.  The commands import this
    module before any other that logs, so this runs first.
    """
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # makes `import rich` fail
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


_load_structlog_without_rich()

import structlog  # noqa: E402

_URL_QUERY = re.compile(r"(https?://[^\s?#\"']+)\?[^\s#\"']*", re.IGNORECASE)
REDACTED = "***"


class Redactor:
    """A structlog processor that scrubs secrets from every string in an event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # very short values would blank out ordinary words; secrets are longer
        self._secrets.update(s for s in secrets if len(s) >= 6)

    def scrub(self, text: str) -> str:
        text = _URL_QUERY.sub(r"\1?…", text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._walk(v) for v in value)
        if isinstance(value, BaseException):
            return self.scrub(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return {key: self._walk(value) for key, value in event.items()}


REDACTOR = Redactor()


def configure_logging(
    *, level: str = "info", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Set up structlog once for the process; `json=None` picks JSON unless on a TTY."""
    stream = stream or sys.stdout
    if json is None:
        json = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
