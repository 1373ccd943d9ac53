"""Scrubbing secrets from text: registered secret values and URL query strings.

Kept apart from `downloader.logs` (which loads structlog) so that a command
that only registers secrets, such as `downloader status`, loads no logging
library.  The one `REDACTOR` is the processor `configure_logging` installs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["REDACTED", "REDACTOR", "Redactor"]

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
