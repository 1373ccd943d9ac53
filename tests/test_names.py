from __future__ import annotations

import ast
import unicodedata
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.transfer import _backoff, _digests, _names
from downloader.transfer._names import (
    choose_filename,
    name_from_url,
    parse_content_disposition,
    safe_join,
    sanitize_filename,
)

# --- Content-Disposition -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="a b.zip"', "a b.zip"),
        ("attachment; filename=report.pdf", "report.pdf"),
        ('inline; filename="foo.html"', "foo.html"),
        ("INLINE; FILENAME=foo.html", "foo.html"),
        ('Attachment; FileName="foo.html"', "foo.html"),
        ('attachment;filename="foo.html"', "foo.html"),
        ('attachment ; filename = "foo.html" ', "foo.html"),
        ('attachment; filename="foo.html";', "foo.html"),
        ('attachment; filename="f\\oo.html"', "foo.html"),
        ('attachment; filename="\\"quoting\\" tested.html"', '"quoting" tested.html'),
        ('attachment; filename="a\\\\b.txt"', "a\\b.txt"),
        ('attachment; filename="Here\'s a semicolon;.html"', "Here's a semicolon;.html"),
        ('attachment; foo="bar"; filename="foo.html"', "foo.html"),
        ('attachment; foo="\\"\\\\";filename="foo.html"', "foo.html"),
        ('attachment; filename="foo.html"; filename="bar.html"', "foo.html"),
        ("attachment; filename=my report.pdf", "my report.pdf"),
        ("attachment; creation-date; filename=x.bin", "x.bin"),
        ('attachment; filename="\u00e4-%41.html"', "\u00e4-%41.html"),
        ("attachment; filename*=UTF-8''%e2%82%ac%20rates.zip", "\u20ac rates.zip"),
        ("attachment; filename*=utf-8''foo-%c3%a4.html", "foo-\u00e4.html"),
        ("attachment; filename*=UTF-8'en'foo.html", "foo.html"),
        ("attachment; filename*=iso-8859-1'de'foo-%E4.html", "foo-\u00e4.html"),
        ("attachment; FILENAME*=UTF-8''foo-%c3%a4.html", "foo-\u00e4.html"),
        ("attachment; filename*=\"UTF-8''foo-%c3%a4.html\"", "foo-\u00e4.html"),
        ("attachment; filename=\"fallback.zip\"; filename*=UTF-8''%e2%82%ac.zip", "\u20ac.zip"),
        ("attachment; filename*=UTF-8''%e2%82%ac.zip; filename=\"fallback.zip\"", "\u20ac.zip"),
    ],
)
def test_content_disposition_yields_the_suggested_name(header: str, expected: str) -> None:
    assert parse_content_disposition(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        # filename* undecodable: bad percent-encoding, bad UTF-8, unknown charset, no quotes
        "attachment; filename*=UTF-8''foo-%zz.html; filename=fallback.html",
        "attachment; filename*=UTF-8''foo-%c3.html; filename=fallback.html",
        "attachment; filename*=UTF-8''foo-%.html; filename=fallback.html",
        "attachment; filename*=koi8-r''foo.html; filename=fallback.html",
        "attachment; filename*=foo.html; filename=fallback.html",
        "attachment; filename=fallback.html; filename*=UTF-8''%ff%fe",
    ],
)
def test_undecodable_extended_name_falls_back_to_the_plain_one(header: str) -> None:
    assert parse_content_disposition(header) == "fallback.html"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "attachment",
        "inline",
        'attachment; filename=""',
        "attachment; filename=",
        'attachment; filename="unterminated.html',
        '"attachment"; filename="foo.html"',
        'attachment filename="foo.html"',
        'attachment; filename="foo.html" junk',
        '; filename="foo.html"',
        "attachment; filename*=UTF-8''%zz",
        "attachment; =oops",
        'attachment; filename="a"; ==; filename*=x',
    ],
)
def test_content_disposition_without_a_usable_name_gives_none(header: str | None) -> None:
    assert parse_content_disposition(header) is None


@given(st.text())
def test_content_disposition_never_raises(header: str) -> None:
    result = parse_content_disposition(header)
    assert result is None or (isinstance(result, str) and result != "")


@given(st.text(alphabet=st.sampled_from(list("attachment;filename*=\"'\\%UTF-8 a.zip"))))
def test_content_disposition_never_raises_on_near_miss_syntax(header: str) -> None:
    result = parse_content_disposition(header)
    assert result is None or isinstance(result, str)


# --- names in URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/a/b/file.tif", "file.tif"),
        ("https://h/a/b/file.tif?X-Amz-Signature=abc#frag", "file.tif"),
        ("https://h/dir/", "dir"),
        ("https://h/dir//", "dir"),
        ("https://h/%e2%82%ac%20rates.zip", "\u20ac rates.zip"),
        ("https://h/a%2Fb.zip", "a/b.zip"),
        ("/relative/path.bin", "path.bin"),
        ("https://h:8080/x.json?y=1", "x.json"),
    ],
)
def test_url_name_is_the_last_path_segment_decoded(url: str, expected: str) -> None:
    assert name_from_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["https://h/", "https://h", "https://h?file=x.zip", "https://h/#x.zip", "", "http://[::1"],
)
def test_url_without_a_path_segment_has_no_name(url: str) -> None:
    assert name_from_url(url) is None


# --- sanitize_filename ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("a b.zip", "a b.zip"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..\\..\\boot.ini", "_.._boot.ini"),
        ("dir/file.txt", "dir_file.txt"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("tab\tand\nnewline\r.txt", "tabandnewline.txt"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("\u200bzero\ufeffwidth.txt", "zerowidth.txt"),
        ("emoji\U0001f469\u200d\U0001f4bb.png", "emoji\U0001f469\u200d\U0001f4bb.png"),
        (".hidden", "hidden"),
        ("...dots", "dots"),
        ("  padded name  ", "padded name"),
        ("trailing. . .", "trailing"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("Com1.tar.gz", "_Com1.tar.gz"),
        ("lpt9", "_lpt9"),
        ("prn .txt", "_prn .txt"),
        ("COM\u00b9.txt", "_COM\u00b9.txt"),
        ("console.txt", "console.txt"),
        ("COM10", "COM10"),
        ("auxiliary", "auxiliary"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("cafe\u0301.txt", "caf\u00e9.txt"),
    ],
)
def test_sanitize_cleans_names(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize("raw", ["", ".", "..", "...", "   ", "\x00", "\u202e", ". ."])
def test_sanitize_falls_back_when_nothing_is_left(raw: str) -> None:
    assert sanitize_filename(raw) == "download"
    assert sanitize_filename(raw, fallback="asset.bin") == "asset.bin"


def test_sanitize_sanitises_the_fallback_too() -> None:
    assert sanitize_filename("..", fallback="../x") == "_x"
    assert sanitize_filename("..", fallback="..") == "download"


def test_long_name_keeps_its_extension() -> None:
    result = sanitize_filename("a" * 300 + ".tar.gz", max_bytes=50)
    assert result == "a" * 47 + ".gz"


def test_long_name_with_overlong_extension_is_simply_cut() -> None:
    result = sanitize_filename("name." + "x" * 40, max_bytes=20)
    assert result == "name." + "x" * 15


def test_long_multibyte_name_is_never_cut_inside_a_character() -> None:
    result = sanitize_filename("\u20ac" * 100 + ".zip", max_bytes=12)
    assert result == "\u20ac\u20ac.zip"
    assert len(result.encode()) == 10


def test_cut_that_leaves_a_device_name_still_gets_the_prefix() -> None:
    result = sanitize_filename("CONSOLE.txt", max_bytes=7)
    assert result == "_CO.txt"
    assert len(result.encode()) <= 7


def test_tiny_limit_still_gives_a_name() -> None:
    assert sanitize_filename("\u20ac\u20ac", max_bytes=1) == "d"
    with pytest.raises(ValueError, match="max_bytes"):
        sanitize_filename("x", max_bytes=0)


def _assert_safe(result: str, max_bytes: int) -> None:
    assert result not in ("", ".", "..")
    assert not result.startswith(".")
    assert "/" not in result
    assert "\\" not in result
    assert "\x00" not in result
    assert not any(unicodedata.category(c) == "Cc" for c in result)
    assert result == result.strip()
    assert not result.endswith(".")
    assert len(result.encode()) <= max_bytes
    assert unicodedata.is_normalized("NFC", result)
    assert not any(c in '<>:"|?*' for c in result)
    assert result.split(".")[0].rstrip(" ").upper() not in {"CON", "PRN", "AUX", "NUL"}


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_sanitize_returns_a_safe_name_for_any_input(raw: str, max_bytes: int) -> None:
    _assert_safe(sanitize_filename(raw, max_bytes=max_bytes), max_bytes)


@given(st.text(alphabet=st.sampled_from(list("./\\ \x00.aé\u0301CONcon1:\u202e")), max_size=40))
def test_sanitize_is_safe_on_dense_troublemakers(raw: str) -> None:
    _assert_safe(sanitize_filename(raw, max_bytes=12), 12)


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_sanitize_is_idempotent(raw: str, max_bytes: int) -> None:
    once = sanitize_filename(raw, max_bytes=max_bytes)
    assert sanitize_filename(once, max_bytes=max_bytes) == once


def _is_device_name(name: str) -> bool:
    stem = name.split(".")[0].rstrip(" ").upper()
    return stem in {"CON", "PRN", "AUX", "NUL"} or (
        len(stem) == 4 and stem[:3] in {"COM", "LPT"} and stem[3] in "123456789"
    )


ORDINARY_NAMES = st.from_regex(
    r"[A-Za-z0-9_-][A-Za-z0-9 _-]{0,50}[A-Za-z0-9_-]\.[a-z]{1,5}", fullmatch=True
).filter(lambda name: not _is_device_name(name))


@given(ORDINARY_NAMES)
def test_ordinary_names_pass_unchanged(raw: str) -> None:
    assert sanitize_filename(raw) == raw


# --- choose_filename -----------------------------------------------------------------------


def test_choose_prefers_content_disposition() -> None:
    assert choose_filename('attachment; filename="x.zip"', "https://h/y.zip", "z") == "x.zip"


def test_choose_uses_url_when_there_is_no_header_name() -> None:
    assert choose_filename("attachment", "https://h/y.zip", "z") == "y.zip"
    assert choose_filename(None, "https://h/y.zip?sig=1", "z") == "y.zip"


def test_choose_uses_fallback_when_neither_gives_a_name() -> None:
    assert choose_filename(None, "https://h/", "asset-7.bin") == "asset-7.bin"
    assert choose_filename(None, None, "asset-7.bin") == "asset-7.bin"


def test_choose_skips_candidates_that_sanitise_to_nothing() -> None:
    assert choose_filename('attachment; filename=".."', "https://h/y.zip", "z") == "y.zip"
    assert choose_filename(None, "https://h/a/..", "asset.bin") == "asset.bin"


def test_choose_always_sanitises() -> None:
    header = 'attachment; filename="../../.bashrc"'
    assert choose_filename(header, None, "z") == "_.._.bashrc"
    assert choose_filename(None, "https://h/%2e%2e%2fetc%2fpasswd", "z") == "_etc_passwd"
    assert choose_filename(None, None, "../CON") == "_CON"


# --- safe_join -----------------------------------------------------------------------------


def test_safe_join_puts_sanitised_parts_under_root() -> None:
    root = PurePosixPath("/archive/bag")
    assert safe_join(root, "data", "scene.tif") == root / "data" / "scene.tif"
    assert safe_join("/archive/bag", "data/sub\\x.txt") == root / "data" / "sub" / "x.txt"
    assert safe_join(root, "/abs/name", "./x") == root / "abs" / "name" / "x"
    assert safe_join(root, "a:b", "CON") == root / "a_b" / "_CON"
    assert safe_join("rel", "x") == PurePosixPath("rel/x")


@pytest.mark.parametrize(
    "parts", [(), ("",), (".",), ("/",), ("..",), ("a/../../b",), ("a", "..\\x"), ("./.",)]
)
def test_safe_join_refuses_escapes_and_the_root_itself(parts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"climbs|nothing to join"):
        safe_join("/archive", *parts)


@given(st.lists(st.text(), max_size=5))
def test_safe_join_never_escapes_root(parts: list[str]) -> None:
    root = PurePosixPath("/archive/bag")
    try:
        joined = safe_join(root, *parts)
    except ValueError:
        return
    assert root in joined.parents
    relative = joined.relative_to(root)
    for part in relative.parts:
        _assert_safe(part, 200)


@given(
    st.lists(st.text(alphabet=st.sampled_from(list("./\\a")), max_size=8), min_size=1, max_size=4)
)
def test_safe_join_never_escapes_root_with_dense_dots(parts: list[str]) -> None:
    root = PurePosixPath("root")
    try:
        joined = safe_join(root, *parts)
    except ValueError:
        return
    assert root in joined.parents
    assert ".." not in joined.parts


# --- purity --------------------------------------------------------------------------------

IO_MODULES = {"aiohttp", "anyio", "asyncio", "sqlite3", "aiofiles", "socket", "os", "io"}


def imported_roots(module_file: str) -> set[str]:
    tree = ast.parse(Path(module_file).read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", [_names, _digests, _backoff])
def test_pure_modules_import_nothing_that_does_io(module: ModuleType) -> None:
    assert module.__file__ is not None
    roots = imported_roots(module.__file__)
    assert "__future__" in roots
    assert not roots & IO_MODULES
