"""How storage hosts refuse in bodies, not only in statuses: pure answers of the file host.

An expired signed URL is refused the way S3 (403, `AccessDenied: Request has
expired`), Google Cloud Storage (400, `ExpiredToken`) or Azure Blob Storage (403,
`AuthenticationFailed`) refuse it; an error page can stand in for a file with a 200
(a login wall, a gateway); a body can come gzip-coded though identity was asked for.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from downloader.emulator._content import Content
from downloader.emulator._pages import HTML, _xml_error, expired_page

__all__ = ["ERROR_BODIES", "EXPIRY_ANSWERS", "error_body", "expiry_refusal", "gzip_body"]

EXPIRY_ANSWERS = ("s3", "gcs", "azure")
ERROR_BODIES = ("html", "xml", "json")
_JSON = "application/json; charset=UTF-8"


def expiry_refusal(
    style: str, query: Mapping[str, str], now: float
) -> tuple[int, tuple[bytes, str]]:
    """Status, and body with its content type, of the refusal of an expired signed URL."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "gcs":
        body, kind = _xml_error(
            "ExpiredToken", "The provided token has expired.", f"<Details>now {stamp}</Details>"
        )
        return 400, (body, kind)
    if style == "azure":
        body, kind = _xml_error(
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization "
            "header is formed correctly including the signature.",
            f"<AuthenticationErrorDetail>Signed expiry time must be after {stamp}"
            "</AuthenticationErrorDetail>",
        )
        return 403, (body, kind)
    return 403, expired_page(query, now)


def error_body(kind: str) -> tuple[bytes, str]:
    """An "Access Denied" page of `kind` (html, xml or json) served with a 200."""
    if kind == "xml":
        return _xml_error("AccessDenied", "Access Denied")
    if kind == "json":
        answer = {"error": {"code": 403, "message": "Access denied to this object"}}
        return json.dumps(answer).encode(), _JSON
    page = (
        "<!DOCTYPE html>\n<html><head><title>Access Denied</title></head>"
        "<body><h1>Access Denied</h1><p>You do not have access to this file.</p></body></html>\n"
    )
    return page.encode(), HTML


def gzip_body(content: Content) -> bytes:
    """The whole of `content`, gzip-coded (for small test files: held in memory)."""
    return gzip.compress(b"".join(content.iter_range(0, content.size)), mtime=0)
