from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from downloader.config import (
    AlteryxSettings,
    ConfigReport,
    PixxelSettings,
    PollSettings,
    ScaleSettings,
    Secret,
    Settings,
    default_config_path,
    inspect_config,
    load_config,
    parse_config,
    schema_keys,
)
from downloader.errors import ConfigError, ConfigProblem
from downloader.transfer import GiB, Limits, MiB, Timeouts

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
EXAMPLE_ENV = {
    "PIXXEL_API_KEY": "pk",
    "ALTERYX_API_KEY": "ak",
    "ALTERYX_API_SECRET": "as",
    "SCALE_TOKEN": "st",
}


def _report(text: str, environ: dict[str, str] | None = None) -> ConfigReport:
    return parse_config(
        textwrap.dedent(text), file="c.toml", base_dir=Path("/srv/dl"), environ=environ or {}
    )


def _problems(text: str, environ: dict[str, str] | None = None) -> list[tuple[str, int | None]]:
    report = _report(text, environ)
    assert report.settings is None
    return [(p.key, p.line) for p in report.problems]


def _only_problem(text: str, environ: dict[str, str] | None = None) -> ConfigProblem:
    report = _report(text, environ)
    assert report.settings is None
    assert len(report.problems) == 1, report.problems
    return report.problems[0]


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("")
    settings = load_config(path)
    assert settings.source == path
    assert settings.archive.root == Path("/var/lib/downloader/archive")
    assert settings.state.url == "sqlite:////var/lib/downloader/state.db"
    assert settings.watchlist.path == Path("/etc/downloader/watchlist.toml")
    assert settings.providers.enabled == frozenset()
    assert settings.transfer.limits == Limits()
    assert settings.transfer.timeouts == Timeouts()
    assert (settings.poll.initial_interval, settings.poll.max_interval) == (5.0, 300.0)
    assert settings.poll.give_up_after == 48 * 3600
    assert settings.service.grace_period == 30.0
    assert settings.service.node_id
    assert settings.warnings == ()


def test_transfer_defaults_come_from_the_engine_policy() -> None:
    assert Settings().transfer.limits == Limits()
    assert Settings().transfer.timeouts == Timeouts(connect=30.0, stall=60.0)
    assert Settings().transfer.repair_attempts == 3


def test_every_value_is_converted_and_relative_paths_follow_the_config_file() -> None:
    report = _report(
        """
        [archive]
        root = "archive"
        extract = true
        [state]
        url = "sqlite:///state/dl.db"
        [watchlist]
        path = "watch.toml"
        [providers.pixxel]
        api_key = { env = "PK" }
        auth_scheme = "bearer"
        [providers.scale]
        base_url = "https://scale.example.org/"
        api_version = "legacy"
        [transfer]
        max_concurrent = 16
        max_per_host = 2
        segments = 8
        segment_min_size = "32MiB"
        bandwidth_limit = "10MB"
        min_free_space = "2GiB"
        connect_timeout = "5s"
        stall_timeout = "2m"
        repair_attempts = 5
        [poll]
        initial_interval = "250ms"
        max_interval = "1h30m"
        give_up_after = "2d"
        [service]
        node_id = "node-a"
        grace_period = 0
        lease_duration = "45s"
        compact_threads = false
        """,
        {"PK": "key"},
    )
    s = report.settings
    assert s is not None
    assert s.archive.root == Path("/srv/dl/archive")
    assert s.archive.extract is True
    assert s.state.url == "sqlite:////srv/dl/state/dl.db"
    assert s.watchlist.path == Path("/srv/dl/watch.toml")
    assert report.watchlist_path == Path("/srv/dl/watch.toml")
    assert s.providers.pixxel == PixxelSettings(api_key=Secret("key"), auth_scheme="bearer")
    assert s.providers.scale == ScaleSettings("https://scale.example.org", "legacy")
    assert s.providers.alteryx is None
    assert s.providers.enabled == report.enabled_providers == {"pixxel", "scale"}
    assert s.transfer.limits == Limits(16, 2, 8, 32 * MiB, 10_000_000, 2 * GiB)
    assert s.transfer.timeouts == Timeouts(connect=5.0, stall=120.0)
    assert s.transfer.repair_attempts == 5
    assert (s.poll.initial_interval, s.poll.max_interval, s.poll.give_up_after) == (
        0.25,
        5400.0,
        172800.0,
    )
    assert (s.service.node_id, s.service.grace_period) == ("node-a", 0.0)
    assert s.service.lease_duration == 45.0
    # retired: read without a problem, so the file loads, and said to be ignored
    assert [w for w in report.warnings if "compact_threads" in w] == [
        "service.compact_threads: the transfer engine no longer moves its threads between "
        "CPUs; the key is ignored and may be removed"
    ]


def test_an_empty_provider_table_enables_it_with_defaults() -> None:
    settings = _report("[providers.pixxel]\n").settings
    assert settings is not None
    assert settings.providers.pixxel == PixxelSettings()


def test_postgres_state_urls_are_accepted_and_a_password_in_them_is_a_warning() -> None:
    settings = _report('[state]\nurl = "postgresql://dl@db/dl"\n').settings
    assert settings is not None
    assert settings.state.url == "postgresql://dl@db/dl"
    assert settings.warnings == ()
    settings = _report('[state]\nurl = "postgres://dl:pw@db/dl"\n').settings
    assert settings is not None
    assert settings.warnings == (
        "state.url contains a password; prefer a ~/.pgpass file or PGPASSFILE",
    )


def test_a_group_readable_secret_file_is_a_warning_on_the_settings(tmp_path: Path) -> None:
    (tmp_path / "pixxel.key").write_text("k\n")
    (tmp_path / "pixxel.key").chmod(0o644)
    config = tmp_path / "config.toml"
    config.write_text('[providers.pixxel]\napi_key = { file = "pixxel.key" }\n')
    settings = load_config(config, environ={})
    assert settings.providers.pixxel is not None
    assert settings.providers.pixxel.api_key == Secret("k")
    assert len(settings.warnings) == 1
    assert "readable by group or others" in settings.warnings[0]


@pytest.mark.parametrize(
    ("text", "key", "line", "message"),
    [
        (
            "[transfer]\nsegment_minsize = 1\n",
            "transfer.segment_minsize",
            2,
            "did you mean 'segment_min_size'",
        ),
        ("x = 1\n", "x", 1, "unknown table 'x'"),
        (
            "[archive]\n[bogus]\na = 1\n",
            "bogus",
            2,
            "unknown table 'bogus' (known: archive, metrics, poll,",
        ),
        ("[providers.planet]\n", "providers.planet", 1, "unknown table 'planet'"),
        (
            '[archive]\nextract = "yes"\n',
            "archive.extract",
            2,
            "expected true or false, got a string",
        ),
        (
            '[transfer]\nsegments = "4"\n',
            "transfer.segments",
            2,
            "expected an integer, got a string",
        ),
        (
            "[transfer]\nmax_per_host = 0\n",
            "transfer.max_per_host",
            2,
            "must be at least 1 (got 0)",
        ),
        ("transfer = 5\n", "transfer", 1, "expected a table, got an integer"),
        (
            '[transfer]\nsegment_min_size = "64 MeB"\n',
            "transfer.segment_min_size",
            2,
            "unknown size unit 'MeB'",
        ),
        (
            '[transfer]\nmin_free_space = "-1GiB"\n',
            "transfer.min_free_space",
            2,
            "cannot be negative",
        ),
        ("[transfer]\nbandwidth_limit = 1.5\n", "transfer.bandwidth_limit", 2, "expected a size"),
        ('[poll]\nmax_interval = "5 mins"\n', "poll.max_interval", 2, "is not a duration"),
        ('[poll]\ngive_up_after = "0s"\n', "poll.give_up_after", 2, "must be longer than zero"),
        ("[transfer]\nstall_timeout = true\n", "transfer.stall_timeout", 2, "expected a duration"),
        ("[transfer]\nrepair_attempts = -1\n", "transfer.repair_attempts", 2, "at least 0"),
        (
            '[poll]\ninitial_interval = "10m"\n',
            "poll.initial_interval",
            2,
            "must not be longer than max_interval (5m)",
        ),
        (
            '[retry]\ninitial_delay = "1h"\n',
            "retry.initial_delay",
            2,
            "must not be longer than max_delay (30m)",
        ),
        ("[retry]\nattempts = -1\n", "retry.attempts", 2, "must be at least 0 (got -1)"),
        (
            '[providers.pixxel]\nauth_scheme = "Bearer"\n',
            "providers.pixxel.auth_scheme",
            2,
            "must be one of 'raw', 'bearer'",
        ),
        (
            '[providers.scale]\nbase_url = "https://s"\napi_version = "v5"\n',
            "providers.scale.api_version",
            3,
            "must be one of 'v6', 'legacy'",
        ),
        (
            '[providers.pixxel]\nbase_url = "ftp://p"\n',
            "providers.pixxel.base_url",
            2,
            "must be an http:// or https:// URL",
        ),
        (
            '[providers.pixxel]\napi_key = { env = "PK" }\n',
            "providers.pixxel.api_key",
            2,
            "environment variable PK is not set",
        ),
        (
            '[providers.pixxel]\napi_key = { file = "nope" }\n',
            "providers.pixxel.api_key",
            2,
            "cannot read secret file /srv/dl/nope",
        ),
        (
            '[providers.pixxel]\napi_key = "abc"\n',
            "providers.pixxel.api_key",
            2,
            "secrets are never written in the file itself",
        ),
        (
            '[providers.scale]\napi_version = "v6"\n',
            "providers.scale.base_url",
            1,
            "missing required key",
        ),
        (
            '[state]\nurl = "mysql://db"\n',
            "state.url",
            2,
            "must start with sqlite:/// or postgresql://",
        ),
        ('[state]\nurl = "sqlite://"\n', "state.url", 2, "write sqlite:////absolute/path.db"),
        ('[watchlist]\npath = ""\n', "watchlist.path", 2, "must not be empty"),
        ('[service]\nnode_id = "node a"\n', "service.node_id", 2, "whitespace"),
        (
            '[providers.alteryx]\nbase_url = "https://a"\nclient_id = { env = "A" }\n'
            'client_secret = { env = "B" }\noutput_format = 3\n',
            "providers.alteryx.output_format",
            5,
            "expected a string, got an integer",
        ),
    ],
)
def test_each_kind_of_problem_names_its_key_and_line(
    text: str, key: str, line: int, message: str
) -> None:
    problem = _only_problem(text, {"A": "a", "B": "b"})
    assert (problem.file, problem.key, problem.line) == ("c.toml", key, line)
    assert message in problem.message


def test_a_toml_syntax_error_is_one_problem_with_its_line() -> None:
    problem = _only_problem('[archive]\nroot = "/a"\nextract = \n')
    assert (problem.key, problem.line) == ("", 3)
    assert problem.message.startswith("TOML syntax error: Invalid value")
    assert "line" not in problem.message


def test_a_syntax_error_at_the_end_of_the_file_points_at_its_last_line() -> None:
    problem = _only_problem('[archive]\nroot = "/a')
    assert problem.line == 2


def test_dotted_keys_and_inline_tables_are_located() -> None:
    assert _problems(
        """
        [providers]
        pixxel.auth_scheme = "x"
        scale = { base_url = "https://s", api_version = "x" }
        [transfer]
        # a comment mentioning segments = 1
        description = \"\"\"
        segments = 1
        \"\"\"
        segments = 0
        """
    ) == [
        ("providers.pixxel.auth_scheme", 3),
        ("providers.scale.api_version", 4),
        ("transfer.description", 7),
        ("transfer.segments", 10),
    ]


def test_alteryx_lists_each_missing_required_key_at_its_table() -> None:
    assert _problems('\n[providers.alteryx]\noutput_format = "Raw"\n') == [
        ("providers.alteryx.base_url", 2),
        ("providers.alteryx.client_id", 2),
        ("providers.alteryx.client_secret", 2),
    ]


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(
            """\
            [poll]
            initial_interval = "1h"
            [transfer]
            segments = 0
            stall_timeout = "soon"
            [providers.pixxel]
            api_key = { env = "MISSING" }
            [colour]
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    problems = caught.value.problems
    assert [(p.key, p.line) for p in problems] == [
        ("poll.initial_interval", 2),
        ("transfer.segments", 4),
        ("transfer.stall_timeout", 5),
        ("providers.pixxel.api_key", 7),
        ("colour", 8),
    ]
    assert all(p.file == str(config) for p in problems)
    assert str(caught.value).splitlines()[0] == (
        f"{config}:2 [poll.initial_interval]: must not be longer than max_interval (5m)"
    )


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.toml")
    (problem,) = caught.value.problems
    assert problem == ConfigProblem(
        str(tmp_path / "absent.toml"), "", "cannot read config file: No such file or directory"
    )


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'[archive]\nroot = "\xff"\n')
    (problem,) = inspect_config(path).problems
    assert problem.message == "config file is not UTF-8 text"


def test_the_watchlist_path_is_reported_even_when_other_tables_are_broken() -> None:
    report = _report('[watchlist]\npath = "w.toml"\n[transfer]\nsegments = 0\n')
    assert report.settings is None
    assert report.watchlist_path == Path("/srv/dl/w.toml")
    assert _report("[transfer]\nsegments = 0\n").watchlist_path == Path(
        "/etc/downloader/watchlist.toml"
    )
    assert _report("[watchlist]\npath = 1\n").watchlist_path is None


def test_enabled_providers_are_known_even_when_their_tables_are_broken() -> None:
    report = _report('[providers.scale]\napi_version = "x"\n[providers.pixxel]\n')
    assert report.settings is None
    assert report.enabled_providers == {"scale", "pixxel"}


def test_default_config_path_prefers_the_environment_variable() -> None:
    assert default_config_path({}) == Path("/etc/downloader/config.toml")
    assert default_config_path({"DOWNLOADER_CONFIG": "/x/c.toml"}) == Path("/x/c.toml")
    assert default_config_path({"DOWNLOADER_CONFIG": ""}) == Path("/etc/downloader/config.toml")


def test_settings_defaults_keep_everything_under_one_root(tmp_path: Path) -> None:
    settings = Settings.defaults(tmp_path)
    assert settings.archive.root == tmp_path / "archive"
    assert settings.state.url == f"sqlite:///{tmp_path}/state.db"
    assert settings.watchlist.path == tmp_path / "watchlist.toml"
    assert settings.providers.enabled == frozenset()
    assert settings.source is None


# --- the example config --------------------------------------------------------------------


def test_the_example_config_loads() -> None:
    settings = load_config(EXAMPLE, environ=EXAMPLE_ENV)
    assert settings.providers.enabled == {"pixxel", "scale", "alteryx"}
    assert settings.providers.pixxel is not None
    assert settings.providers.pixxel.api_key == Secret("pk")
    assert settings.providers.alteryx is not None
    assert settings.providers.alteryx.client_secret == Secret("as")


def _example_keys_by_table() -> dict[str, set[str]]:
    """Every key written in the example, commented out or not, under its table."""
    found: dict[str, set[str]] = {}
    table = ""
    for line in EXAMPLE.read_text().splitlines():
        if header := re.fullmatch(r"\[([\w.]+)\]", line.strip()):
            table = header.group(1)
        elif key := re.match(r"(?:# )?(\w+) = ", line):
            found.setdefault(table, set()).add(key.group(1))
    return found


def test_the_example_config_documents_every_key_of_the_schema() -> None:
    written = {f"{t}.{k}" for t, keys in _example_keys_by_table().items() for k in keys}
    assert written == set(schema_keys())


def test_the_example_config_shows_the_real_defaults(tmp_path: Path) -> None:
    uncommented = re.sub(r"(?m)^# (\w+ = )", r"\1", EXAMPLE.read_text())
    # ca_file has no default (none): its line shows an example path instead
    uncommented = re.sub(r"(?m)^ca_file = .*$", "", uncommented)
    path = tmp_path / "config.toml"
    path.write_text(uncommented)
    settings = load_config(path, environ=EXAMPLE_ENV)
    defaults = Settings()
    assert settings.archive == defaults.archive
    assert settings.state == defaults.state
    assert settings.watchlist == defaults.watchlist
    assert settings.transfer == defaults.transfer
    assert settings.poll == defaults.poll
    assert settings.service.grace_period == defaults.service.grace_period
    assert settings.providers.pixxel == PixxelSettings(api_key=Secret("pk"))
    assert settings.providers.scale is not None
    assert settings.providers.scale.api_version == "v6"


# --- whatever the input, a report and never an exception --------------------------------------

_FRAGMENTS = [
    "[archive]",
    "[transfer]",
    "[poll]",
    "[providers.pixxel]",
    "[providers.scale]",
    "[[transfer]]",
    "[providers]",
    "root = 'r'",
    "extract = true",
    "segments = 3",
    "segments = -3",
    'segment_min_size = "8KiB"',
    'stall_timeout = "1h30m"',
    'initial_interval = "1d"',
    'api_key = { env = "PK" }',
    'api_key = { file = "/nonexistent" }',
    'base_url = "https://x"',
    "base_url = 1",
    'url = "sqlite:///x"',
    "pixxel.base_url = 'http://p'",
    "x = [1, 2]",
    "= broken",
    '"""',
    "",
]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(_FRAGMENTS)).map("\n".join)))
def test_any_text_gives_settings_or_problems_and_nothing_else(text: str) -> None:
    report = parse_config(text, file="f.toml", base_dir=Path("/srv"), environ={"PK": "k"})
    assert (report.settings is None) == bool(report.problems)
    for problem in report.problems:
        assert problem.file == "f.toml"
        assert problem.line is None or 1 <= problem.line <= text.count("\n") + 1
    if report.settings is not None:
        assert isinstance(report.settings, Settings)


@settings(max_examples=60)
@given(st.binary(max_size=120))
def test_any_file_loads_or_raises_config_error(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("any") / "config.toml"
    path.write_bytes(content)
    problems: list[ConfigProblem] = []
    try:
        settings = load_config(path, environ={})
    except ConfigError as exc:
        problems = exc.problems
    else:
        assert settings.source == path
        return
    assert problems
    assert all(isinstance(p, ConfigProblem) and p.file == str(path) for p in problems)


def test_the_unreadable_limit_and_the_accepted_dispositions_are_read(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(
            """\
            [poll]
            unreadable_limit = 2
            [providers.alteryx]
            base_url = "https://ayx.example.org/webapi"
            client_id = { env = "A" }
            client_secret = { env = "B" }
            accept_dispositions = ["Success"]
            """
        )
    )
    settings = load_config(config, environ={"A": "id", "B": "secret"})
    assert settings.poll.unreadable_limit == 2
    assert settings.providers.alteryx is not None
    assert settings.providers.alteryx.accept_dispositions == ("Success",)


def test_the_unreadable_limit_and_dispositions_default_to_the_contracts_values() -> None:
    assert PollSettings().unreadable_limit == 5
    assert AlteryxSettings("https://a.example", Secret("i"), Secret("s")).accept_dispositions == (
        "Success",
        "Warning",
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[poll]\nunreadable_limit = 0\n", "poll.unreadable_limit"),
        (
            '[providers.alteryx]\nbase_url = "https://a.example"\nclient_id = { env = "A" }\n'
            'client_secret = { env = "B" }\naccept_dispositions = []\n',
            "providers.alteryx.accept_dispositions",
        ),
        (
            '[providers.alteryx]\nbase_url = "https://a.example"\nclient_id = { env = "A" }\n'
            'client_secret = { env = "B" }\naccept_dispositions = "Success"\n',
            "providers.alteryx.accept_dispositions",
        ),
    ],
)
def test_a_bad_unreadable_limit_or_disposition_list_is_a_problem(text: str, key: str) -> None:
    assert [k for k, _ in _problems(text, {"A": "a", "B": "b"})] == [key]
