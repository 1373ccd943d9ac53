from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.items import ID_FIELDS, ItemRef, ProviderName, default_http_id


def test_key_joins_provider_kind_and_ids() -> None:
    ref = ItemRef("pixxel", "job", ("wf-123", "job-456"))
    assert ref.key == "pixxel:job:wf-123/job-456"
    assert str(ref) == "pixxel:job:wf-123/job-456"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pixxel:job:WF/JOB", ItemRef("pixxel", "job", ("WF", "JOB"))),
        ("pixxel:task:w/j/t", ItemRef("pixxel", "task", ("w", "j", "t"))),
        ("pixxel:catalog:47435e2b", ItemRef("pixxel", "catalog", ("47435e2b",))),
        ("pixxel:order_item:0b7c", ItemRef("pixxel", "order_item", ("0b7c",))),
        ("scale:job:15096", ItemRef("scale", "job", ("15096",))),
        ("alteryx:job:66eb", ItemRef("alteryx", "job", ("66eb",))),
        (
            "http:file:bucket.example.org/a/b.zip",
            ItemRef("http", "file", ("bucket.example.org/a/b.zip",)),
        ),
        ("alteryx:job:a:b", ItemRef("alteryx", "job", ("a:b",))),
    ],
)
def test_parse_reads_every_kind(text: str, expected: ItemRef) -> None:
    assert ItemRef.parse(text) == expected
    assert ItemRef.parse(text).key == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "pixxel-job",
            r"'pixxel-job' is not an item: write provider:kind:id, e.g. pixxel:job:WF/JOB",
        ),
        ("pixxel:job", "is not an item"),
        (
            "planet:job:x",
            r"unknown provider 'planet' \(expected one of alteryx, http, pixxel, scale\)",
        ),
        (
            "pixxel:jobs:x",
            r"unknown kind 'jobs' for pixxel \(expected one of catalog, job, order_item, task\)",
        ),
        ("pixxel:job:WF", r"pixxel:job needs 2 id\(s\), written pixxel:job:WORKFLOW_ID/JOB_ID"),
        ("pixxel:task:a/b", r"needs 3 id\(s\), written pixxel:task:WORKFLOW_ID/JOB_ID/TASK_ID"),
        ("scale:job:1/2", r"needs 1 id\(s\), written scale:job:ID"),
        ("scale:job:", "must not be empty"),
        ("pixxel:job:a/b c", "whitespace"),
        ("http:file:a/../b", r"'\.\.' path segment"),
        ("http:file:a//b", "empty"),
        ("pixxel:catalog:..", r"'\.\.'"),
    ],
)
def test_parse_explains_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ItemRef.parse(text)


def test_identity_ignores_the_url_and_digest_of_http_items() -> None:
    a = ItemRef("http", "file", ("h/x",), url="https://h/x?sig=1")
    b = ItemRef("http", "file", ("h/x",), url="https://h/x?sig=2", sha256="a" * 64)
    assert a == b
    assert hash(a) == hash(b)
    assert a == ItemRef.parse("http:file:h/x")


def test_repr_never_shows_the_signed_url() -> None:
    ref = ItemRef("http", "file", ("h/x",), url="https://h/x?X-Amz-Signature=topsecret")
    assert "topsecret" not in repr(ref)
    assert ref.url == "https://h/x?X-Amz-Signature=topsecret"


def test_items_sort_by_provider_kind_and_ids() -> None:
    refs = [ItemRef.parse(t) for t in ("scale:job:2", "pixxel:job:b/a", "pixxel:job:a/z")]
    assert [r.key for r in sorted(refs)] == ["pixxel:job:a/z", "pixxel:job:b/a", "scale:job:2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"provider": "pixxel", "kind": "job", "ids": ("a", "b"), "url": "https://h/x"},
            "only http:file",
        ),
        (
            {"provider": "http", "kind": "file", "ids": ("h",), "url": "ftp://h/x"},
            "http:// or https://",
        ),
        (
            {"provider": "http", "kind": "file", "ids": ("h",), "url": "https:///x"},
            "http:// or https://",
        ),
        ({"provider": "http", "kind": "file", "ids": ("h",), "sha256": "AB" * 32}, "lower-case"),
        ({"provider": "pixxel", "kind": "job", "ids": ("a/b", "c")}, "must not contain '/'"),
        ({"provider": "scale", "kind": "job", "ids": ("a\x00",)}, "control"),
        *(
            ({"provider": "http", "kind": "file", "ids": ("h",), "url": url}, "whitespace")
            for url in (
                "https://h/a b",
                "https://h/a\tb",
                "https://h/a\nb",
                "https://h/a\x7fb",
                "https://h/a\u00a0b",
                "https://h/a\u2028b",
                "https://h/a\u3000b",
            )
        ),
    ],
)
def test_construction_validates_every_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ItemRef(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://bucket.example.org/path/scene.zip?X-Amz-Expires=3600&X-Amz-Signature=abc",
            "bucket.example.org/path/scene.zip",
        ),
        ("http://127.0.0.1:8080//a/./b/#frag", "127.0.0.1:8080/a/b"),
        ("https://user:pw@host.example/x", "host.example/x"),
        ("https://host.example", "host.example"),
    ],
)
def test_default_http_id_is_host_and_path_without_query(url: str, expected: str) -> None:
    assert default_http_id(url) == expected


def test_default_http_id_refuses_paths_climbing_out() -> None:
    with pytest.raises(ValueError, match="explicit id"):
        default_http_id("https://h/a/../../etc/passwd")


def test_provider_names_match_the_id_table() -> None:
    assert {p for p, _ in ID_FIELDS} == {p.value for p in ProviderName}


_ID_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="/"
)
_IDS = st.text(_ID_CHARS, min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and all(c.isprintable() and not c.isspace() for c in s)
)


@st.composite
def item_refs(draw: st.DrawFn) -> ItemRef:
    provider, kind = draw(st.sampled_from(sorted(ID_FIELDS)))
    count = len(ID_FIELDS[(provider, kind)])
    ids: tuple[str, ...]
    if provider == "http":
        ids = ("/".join(draw(st.lists(_IDS, min_size=1, max_size=4))),)
    else:
        ids = tuple(draw(_IDS) for _ in range(count))
    return ItemRef(provider, kind, ids)


@given(item_refs())
def test_parse_is_the_inverse_of_key(ref: ItemRef) -> None:
    assert ItemRef.parse(ref.key) == ref


@given(st.text(max_size=40))
def test_parse_of_any_text_is_an_item_or_a_value_error(text: str) -> None:
    try:
        ref = ItemRef.parse(text)
    except ValueError:
        return
    assert ref.key == text
