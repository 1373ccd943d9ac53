"""No config, however bad, gives a traceback or a hang from `check-config`, `status` or
`verify`: each exits 0, or 2 with every problem as `file:line [key]: message`.

The values are the schema's real keys given hostile values (hypothesis): paths of
unknown users, with NUL bytes, naming a FIFO or a device; URLs with invalid ports;
durations past any date; counts without bound; secrets with line breaks.  The state,
archive and watchlist stay inside a temporary folder (a generated one could be any
path on the machine, or a database server elsewhere).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from downloader import cli
from downloader.config._keys import TABLES
from tests.support.toml_text import render_config

FIFO = "@FIFO@"  # replaced by a FIFO made in each example's folder
ENVIRON = {"DL_FUZZ_LF": "key\nwith a line feed", "DL_FUZZ_OK": "a-fine-secret-value"}
HOSTILE = st.sampled_from(
    [
        "~no-such-user-5512/x",
        "~",
        "a\x00b",
        "/dev/zero",
        "/dev/null",
        FIFO,
        "line\nbreak",
        "cr\rhere",
        "http://127.0.0.1:99999/x",
        "https://h.example:port/",
        "http://[::1/x",
        "http://u:pw@127.0.0.1:0/",
        "postgresql://127.0.0.1:70000/db",
        "9999999d",
        "10ms",
        "0.0001s",
        "1e400",
        "1000000TiB",
        "sqlite:///\x00",
        "",
        " ",
    ]
)
SCALARS = st.one_of(
    HOSTILE,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, 65, 257, 10**6, 2**63 - 1, 1e300, float("inf"), float("nan")]),
    st.floats(),
    st.booleans(),
    st.text(max_size=12),
)
VALUES = st.one_of(
    SCALARS,
    st.fixed_dictionaries({"env": st.sampled_from([*ENVIRON, "DL_FUZZ_UNSET"])}),
    st.fixed_dictionaries({"file": HOSTILE}),
    st.lists(SCALARS, max_size=2),
)
FIXED = {("archive", "root"), ("state", "url"), ("watchlist", "path")}
KEYS = sorted(
    (table, key) for table, spec in TABLES.items() for key in spec.keys if (table, key) not in FIXED
)
DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=10)
PROBLEM = re.compile(r"^(?P<file>.+?)(:\d+)?( \[[\w.\[\]-]+\])?: .+$")


def _fill(value: Any, fifo: str) -> Any:
    if isinstance(value, str):
        return value.replace(FIFO, fifo)
    if isinstance(value, list):
        return [_fill(v, fifo) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, fifo) for k, v in value.items()}
    return value


def _run(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, err.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_no_config_gives_a_traceback_from_any_command(doc: dict[tuple[str, str], Any]) -> None:
    saved = {name: os.environ.get(name) for name in ENVIRON}
    os.environ.update(ENVIRON)
    try:
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder)
            os.mkfifo(base / "fifo")
            (base / "watchlist.toml").write_text("")
            fixed = {
                ("archive", "root"): str(base / "archive"),
                ("state", "url"): f"sqlite:///{base / 'state.db'}",
                ("watchlist", "path"): str(base / "watchlist.toml"),
            }
            filled = {k: _fill(v, str(base / "fifo")) for k, v in doc.items()}
            config = base / "config.toml"
            config.write_text(render_config({**filled, **fixed}))
            for command in ("check-config", "status", "verify"):
                code, err = _run(command, "-c", str(config))
                assert code in (cli.EXIT_OK, cli.EXIT_USAGE), (command, err)
                if code == cli.EXIT_USAGE:
                    lines = [
                        x for x in err.splitlines() if not x.startswith(("warning:", "config has"))
                    ]
                    assert lines, (command, err)
                    for line in lines:
                        match = PROBLEM.match(line)
                        assert match, (command, line)
                        assert match["file"] == str(config) or match["file"].startswith(folder)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
