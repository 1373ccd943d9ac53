"""The small bodies a file host sends instead of a file: HTML error pages and S3-style XML."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus

HTML = "text/html; charset=utf-8"
XML = "application/xml"


def error_page(status: int) -> tuple[bytes, str]:
    """A short HTML page for `status`, like the ones CDNs put in front of errors."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    title = escape(f"{status} {phrase}")
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
    return page.encode(), HTML


def _xml_error(code: str, message: str, extra: str = "") -> tuple[bytes, str]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{extra}</Error>\n"
    )
    return body.encode(), XML


def expired_page(query: Mapping[str, str], now: float) -> tuple[bytes, str]:
    """S3's answer to a presigned URL used after its expiry."""
    expires = escape(query.get("expires", ""))
    server_time = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = f"<Expires>{expires}</Expires><ServerTime>{server_time}</ServerTime>"
    return _xml_error("AccessDenied", "Request has expired", extra)


def signature_page() -> tuple[bytes, str]:
    """S3's answer to a missing or forged signature."""
    return _xml_error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )
