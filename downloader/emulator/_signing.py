"""Signed, expiring file URLs in the manner of S3 and GCS presigned links: pure functions.

A URL carries `expires` (unix seconds) and `sig`, the hex HMAC-SHA256 of the path
and the expiry under the host's secret.  Nothing here reads a clock: the caller
passes `now`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import urlencode


class Verdict(StrEnum):
    VALID = "valid"
    BAD_SIGNATURE = "bad-signature"
    EXPIRED = "expired"


def sign(secret: bytes, path: str, expires: int) -> str:
    """The `sig` for `path` valid until `expires`."""
    message = f"{path}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_query(secret: bytes, path: str, expires: int) -> str:
    """The query string (without `?`) that makes `path` valid until `expires`."""
    return urlencode({"expires": str(expires), "sig": sign(secret, path, expires)})


def check_signature(secret: bytes, path: str, query: Mapping[str, str], now: float) -> Verdict:
    """Judge a request's `expires`/`sig` parameters at time `now`."""
    raw_expires = query.get("expires", "")
    given = query.get("sig", "")
    try:
        expires = int(raw_expires)
    except ValueError:
        return Verdict.BAD_SIGNATURE
    if not hmac.compare_digest(given.encode(), sign(secret, path, expires).encode()):
        return Verdict.BAD_SIGNATURE
    if now > expires:
        return Verdict.EXPIRED
    return Verdict.VALID
