from __future__ import annotations

import io
import json

import structlog

from downloader.logs import Redactor, configure_logging


def test_redactor_scrubs_registered_secrets_and_url_queries_everywhere() -> None:
    redactor = Redactor(["px-secret-key", "short"])
    event = {
        "event": "request failed for key px-secret-key",
        "url": "https://h.example/pkg.zip?X-Amz-Signature=abc&expires=1",
        "nested": {"headers": ["Authorization: px-secret-key"]},
        "count": 3,
        "error": ValueError("token px-secret-key rejected"),
    }
    out = redactor(None, "info", event)
    text = json.dumps(out)
    assert "px-secret-key" not in text
    assert "X-Amz-Signature" not in text
    assert out["url"] == "https://h.example/pkg.zip?…"
    assert out["count"] == 3
    # secrets shorter than six characters are not registered: they would blank out words
    assert redactor.scrub("a short word") == "a short word"


def test_configured_logging_writes_json_lines_without_secrets() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    from downloader.logs import REDACTOR

    REDACTOR.add(["client-secret-123456"])
    structlog.get_logger("t").info("token.refresh", secret="client-secret-123456", item="x")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"] == "token.refresh"
    assert line["secret"] == "***"
    assert line["level"] == "info"
    structlog.reset_defaults()


def test_debug_events_are_filtered_at_info_level() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream, level="info")
    structlog.get_logger("t").debug("noise")
    assert stream.getvalue() == ""
    structlog.reset_defaults()
