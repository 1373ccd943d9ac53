from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from downloader import cli
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


def test_every_secret_of_a_loaded_config_is_scrubbed_from_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "PX_KEY": "px-loaded-key-0a1b2c",
        "AYX_ID": "ayx-loaded-id-3d4e5f",
        "AYX_SECRET": "ayx-loaded-secret-6a7b",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "key").write_text("sc-loaded-token-8c9d")
    (tmp_path / "key").chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(
        '[providers.pixxel]\napi_key = { env = "PX_KEY" }\n'
        '[providers.scale]\nbase_url = "http://127.0.0.1:9"\ntoken = { file = "key" }\n'
        '[providers.alteryx]\nbase_url = "http://127.0.0.1:9"\n'
        'client_id = { env = "AYX_ID" }\nclient_secret = { env = "AYX_SECRET" }\n'
    )
    umask = os.umask(0o022)
    try:
        settings = cli._load_settings(cli.build_parser().parse_args(["once", "-c", str(config)]))
    finally:
        os.umask(umask)
    assert settings is not None
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    values = [*secrets.values(), "sc-loaded-token-8c9d"]
    structlog.get_logger("t").warning(
        "careless", detail=f"sent {values[0]}", nested={"all": values}, error=ValueError(values[3])
    )
    structlog.reset_defaults()
    out = stream.getvalue()
    assert out.count("***") == 1 + len(values) + 1
    for value in values:
        assert value not in out


def test_once_off_a_terminal_never_loads_rich(tmp_path: Path) -> None:
    # rich serves only the progress table on a terminal; structlog would load it at
    # import for tracebacks this program never renders (0.4 s and 3 MB per start)
    (tmp_path / "watchlist.toml").write_text("")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
    )
    code = (
        "import sys\n"
        "from downloader import cli\n"
        f"code = cli.main(['once', '-c', {str(config)!r}])\n"
        "print('rich loaded' if 'rich' in sys.modules else 'rich not loaded', code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.splitlines()[-1] == "rich not loaded 0", done.stderr
