"""OAuth2 client credentials, as Alteryx Server's `POST {webapi}/oauth2/token` takes them.

The client id and secret go as HTTP Basic, the form says
`grant_type=client_credentials`, the answer holds `access_token` and `expires_in`.
There is no refresh token: a new token is asked for `margin` seconds before the
old one runs out, and once more when the server answers 401 anyway.  Every
request of the process shares one token; a lock makes concurrent callers wait
for one renewal instead of each asking for a token of its own.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

import anyio
import structlog

from downloader.clock import Clock
from downloader.config import Secret
from downloader.providers._api import ApiClient, StaticAuth
from downloader.providers._parse_alteryx import Token, parse_token
from downloader.redact import REDACTOR

__all__ = ["TOKEN_MARGIN", "TokenSource", "client_auth"]

log = structlog.get_logger("downloader.providers")

TOKEN_MARGIN = 60.0
"""Seconds before expiry at which a token is replaced (at most half its lifetime)."""


def client_auth(client_id: Secret, client_secret: Secret) -> StaticAuth:
    """HTTP Basic with the client id and secret: the credentials of the token request."""
    pair = f"{client_id.reveal()}:{client_secret.reveal()}".encode()
    encoded = base64.b64encode(pair).decode("ascii")
    return StaticAuth(
        f"Basic {encoded}", secrets=(client_id.reveal(), client_secret.reveal(), encoded)
    )


class TokenSource:
    """Bearer tokens for one Alteryx server; an `Auth` for its `ApiClient`.

    `api` is a client of the same server authenticated by `client_auth`.
    """

    def __init__(self, api: ApiClient, *, clock: Clock, margin: float = TOKEN_MARGIN) -> None:
        self._api = api
        self._clock = clock
        self._margin = margin
        self._token: Token | None = None
        self._renew_at = 0.0
        self._lock = anyio.Lock()
        self.issued = 0
        """How many tokens were asked for (for tests and logs)."""

    async def token(self) -> str:
        """A token that is not about to expire."""
        token = self._token
        if token is not None and self._clock.monotonic() < self._renew_at:
            return token.access_token
        return await self._fetch(stale=token)

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    async def renew(self) -> bool:
        """Drop the current token (the server refused it) and get another."""
        await self._fetch(stale=self._token, forced=True)
        return True

    def secrets(self) -> Iterable[str]:
        own = [self._token.access_token] if self._token is not None else []
        return [*own, *self._api.auth.secrets()]

    async def _fetch(self, *, stale: Token | None, forced: bool = False) -> str:
        async with self._lock:
            current = self._token
            fresh = current is not None and self._clock.monotonic() < self._renew_at
            if current is not None and current is not stale and (fresh or forced):
                return current.access_token  # someone renewed it while we waited
            answer = await self._api.call(
                "POST", "/oauth2/token", form={"grant_type": "client_credentials"}
            )
            token = parse_token(answer)
            REDACTOR.add([token.access_token])  # never in a log line, whatever logs it
            margin = min(self._margin, token.expires_in / 2)
            self._token = token
            self._renew_at = self._clock.monotonic() + token.expires_in - margin
            self.issued += 1
            log.info("provider.token_issued", platform="Alteryx", expires_in=token.expires_in)
            return token.access_token

    def __repr__(self) -> str:
        return f"TokenSource(issued={self.issued})"
