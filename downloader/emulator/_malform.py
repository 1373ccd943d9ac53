"""Spoiling an API answer on purpose, the ways real gateways and buggy servers do. Pure.

Each endpoint names its key field (`status`, or `results` for a list); the
`unknown_status`, `missing_field`, `wrong_type` and `huge_number` (a 5,000-digit
integer, valid JSON that Python's `json` refuses to convert) modes act on that
field, the others on the whole body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from downloader.emulator._scenario import Malformed

HUGE_BODY_BYTES = 16 * 1024 * 1024
HUGE_NUMBER_DIGITS = 5000
"""Past Python's limit on converting digits to an int (4,300 unless set otherwise)."""
UNKNOWN_STATUS = "reticulating-splines"
_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The upstream server sent an invalid response.</p>"
    b"</body></html>\n"
)


_LOGIN_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in - Example SSO</title></head>\n"
    b"<body><form method='post' action='/sso/login'><label>User name <input name='u'>"
    b"</label><label>Password <input type='password' name='p'></label>"
    b"<button>Sign in</button></form></body></html>\n"
)
HUGE_INTEGER_DIGITS = 5000


@dataclass(frozen=True)
class Spoiled:
    """A spoiled answer: what status, content type and body to send."""

    status: int
    content_type: str
    body: bytes


def spoil(body: dict[str, Any], mode: Malformed, key_field: str, status: int = 200) -> Spoiled:
    """`body` (the answer that should have been sent) spoiled according to `mode`."""
    if mode is Malformed.HTML_ERROR:
        return Spoiled(502, "text/html; charset=utf-8", _HTML_PAGE)
    if mode is Malformed.TRUNCATED_JSON:
        whole = json.dumps(body).encode()
        return Spoiled(status, "application/json", whole[: max(1, len(whole) // 2)])
    if mode is Malformed.LOGIN_PAGE:
        return Spoiled(200, "text/html; charset=utf-8", _LOGIN_PAGE)
    if mode is Malformed.HUGE_INTEGER:
        whole = json.dumps({**body, "size": 0}).encode()
        return Spoiled(status, "application/json", whole.replace(b'"size": 0', _huge_number()))
    if mode is Malformed.HUGE_BODY:
        padded = {**body, "padding": "x" * HUGE_BODY_BYTES}
        return Spoiled(status, "application/json", json.dumps(padded).encode())
    if mode is Malformed.HUGE_NUMBER:  # valid JSON, written by hand: json.dumps cannot
        digits = "9" * HUGE_NUMBER_DIGITS
        rest = json.dumps({k: v for k, v in body.items() if k != key_field})
        glue = ", " if rest != "{}" else ""
        text = f'{{"{key_field}": {digits}{glue}{rest[1:]}'
        return Spoiled(status, "application/json", text.encode())
    changed = dict(body)
    if mode is Malformed.UNKNOWN_STATUS:
        changed["status"] = UNKNOWN_STATUS
    elif mode is Malformed.MISSING_FIELD:
        changed.pop(key_field, None)
    else:
        changed[key_field] = _wrong_type(changed.get(key_field))
    return Spoiled(status, "application/json", json.dumps(changed).encode())


def _huge_number() -> bytes:
    return b'"size": ' + b"9" * HUGE_INTEGER_DIGITS


def _wrong_type(value: Any) -> Any:
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {"unexpected": "object"}
    if isinstance(value, dict):
        return "unexpected string"
    return ["unexpected", "list"]
