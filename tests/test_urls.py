from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.transfer._urls import host_key, redact_url

# --- redact_url ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://bucket.s3.amazonaws.com/a/b.tif?X-Amz-Signature=deadbeef&X-Amz-Expires=600",
            "https://bucket.s3.amazonaws.com/a/b.tif?…",
            id="signed-query",
        ),
        pytest.param(
            "https://user:secret@files.example.com/x.zip",
            "https://files.example.com/x.zip",
            id="user-and-password",
        ),
        pytest.param("https://token@files.example.com/x", "https://files.example.com/x", id="user"),
        pytest.param(
            "http://user:pw@127.0.0.1:8443/dl/x.bin?sig=1#part",
            "http://127.0.0.1:8443/dl/x.bin?…",
            id="everything",
        ),
        pytest.param("https://h.example/x#token=abc", "https://h.example/x", id="fragment"),
        pytest.param("https://h.example/x?", "https://h.example/x", id="empty-query"),
        pytest.param("https://h.example/a/b/c.tif", "https://h.example/a/b/c.tif", id="clean"),
        pytest.param("https://h.example", "https://h.example", id="no-path"),
        pytest.param("https://h.example:8080/", "https://h.example:8080/", id="port"),
        pytest.param("https://H.Example/Path", "https://h.example/Path", id="host-lowercased"),
        pytest.param("/relative/path?sig=1", "/relative/path?…", id="relative"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "not a url",
        "http://[::1",
        "http://[garbage]/x",
        "::::",
        "http://",
        "?",
        "#",
        "\x00\x01\x02",
        "https://\u2100.example/",
        "💾://💾/💾?💾",
        "http://user:pw@/x?sig",
    ],
)
def test_redact_url_does_not_raise_on_junk(junk: str) -> None:
    result = redact_url(junk)
    assert isinstance(result, str)
    assert "pw" not in result
    assert "sig" not in result


@given(st.text())
def test_redact_url_does_not_raise_on_any_text(text: str) -> None:
    assert isinstance(redact_url(text), str)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://[::1]:8080/x?sig=1", "http://[::1]:8080/x?…"),
        ("http://h:99999/x", "http://h:99999/x"),
        ("http://h:abc/x", "http://h:abc/x"),
        ("http://h:0/x", "http://h:0/x"),
    ],
)
def test_redact_url_keeps_odd_hosts_and_ports_as_written(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_host_key_treats_default_ports_as_the_same_host() -> None:
    assert host_key("https://h/") == host_key("https://h:443/x")
    assert host_key("http://h/") == host_key("http://h:80/")
    assert host_key("http://[::1]:8080/a") == "http://[::1]:8080"
    assert isinstance(host_key("http://h:abc/"), str)


SECRET = "s3cr3t"
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True)
paths = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True), max_size=4).map(
    lambda parts: "".join("/" + part for part in parts)
)


@given(
    scheme=st.sampled_from(["http", "https"]),
    userinfo=st.sampled_from(["", f"{SECRET}@", f"user:{SECRET}@"]),
    host=hosts,
    port=st.one_of(st.none(), st.integers(min_value=1, max_value=65535)),
    path=paths,
    query=st.sampled_from(["", f"?sig={SECRET}", f"?a=1&X-Amz-Signature={SECRET}"]),
    fragment=st.sampled_from(["", f"#{SECRET}"]),
)
def test_redact_url_keeps_where_and_drops_every_credential(
    scheme: str,
    userinfo: str,
    host: str,
    port: int | None,
    path: str,
    query: str,
    fragment: str,
) -> None:
    netloc = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{userinfo}{netloc}{path}{query}{fragment}"
    redacted = redact_url(url)
    assert SECRET not in redacted
    assert redacted == f"{scheme}://{netloc}{path}" + ("?…" if query else "")


# --- host_key -----------------------------------------------------------------------------------


def test_host_key_groups_urls_of_one_host_and_port() -> None:
    assert host_key("https://h.example/a?x=1") == host_key("https://h.example/b/c")
    assert host_key("https://user@H.Example/a") == host_key("https://h.example/a")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("https://a.example/x", "https://b.example/x"),
        ("http://a.example/x", "https://a.example/x"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8081/x"),
    ],
)
def test_host_key_tells_hosts_schemes_and_ports_apart(first: str, second: str) -> None:
    assert host_key(first) != host_key(second)


def test_host_key_carries_no_credential() -> None:
    key = host_key(f"https://user:{SECRET}@h.example:8443/x?sig={SECRET}")
    assert key == "https://h.example:8443"
