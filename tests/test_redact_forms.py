"""`scrub_forms` looks for the character each of its expressions needs before running
it; the outcome must be that of running every expression, on any text."""

from __future__ import annotations

import random

import pytest

from downloader import redact
from downloader.redact import REDACTED, scrub_forms


def every_expression(text: str) -> str:
    """The scrub with no character looked for first: each expression in its order."""
    text = redact._URL.sub(redact._url, text)
    text = redact._BARE_QUERY.sub(r"\1?…", text)
    text = redact._USERINFO.sub(f"{REDACTED}@", text)
    text = redact._HEADER.sub(rf"\1\2{REDACTED}", text)
    text = redact._AUTH_VALUE.sub(rf"\1\2{REDACTED}", text)
    text = redact._PARAM.sub(rf"\1={REDACTED}", text)
    return redact._JSON_FIELD.sub(rf"\1{REDACTED}", text)


PIECES = [
    "http://",
    "https://bob:pw-4471@h:443/f.bin",
    "s3://key:pw@bucket/o",
    "postgresql://app@db/x",
    "?",
    "?sig=0f1e2d3c4b",
    "/f.bin",
    "@",
    "user:pass@host",
    ":",
    "=",
    "token",
    "Token 1f3a9c0d55aa",
    "Bearer abcdef123456",
    "authorization",
    "Authorization: Basic dXNlcjpwYXNz",
    "cookie=abc",
    "x-api-key: k-123456789",
    "access_token",
    '"access_token": "tok-1234567"',
    "'secret': 'v'",
    "client_secret=s3cr3t",
    "&",
    " ",
    "\n",
    "item.archived",
    "http:file:w3-00017",
    "2026-12-08T01:35:14Z",
    "…",
    "#frag",
    "baſic 12345678a",
    "toKen=",
    "TOKEN 9f8e7d6c5b",
    "İ",
    "K",
    "é",
]


@pytest.mark.parametrize("seed", range(40))
def test_looking_for_the_needed_character_first_changes_no_outcome(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8)))
        assert scrub_forms(text) == every_expression(text), text


def test_text_with_none_of_the_characters_is_still_scrubbed_of_a_scheme_and_token() -> None:
    assert scrub_forms("the server said Token 1f3a9c0d55aa is old") == (
        f"the server said Token {REDACTED} is old"
    )


def test_a_scheme_word_spelled_beyond_ascii_is_still_scrubbed() -> None:
    # IGNORECASE reads the long s as an s: the word is not looked for in such text
    assert scrub_forms("baſic 12345678a") == f"baſic {REDACTED}"
