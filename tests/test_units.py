from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.config import format_duration, format_size, parse_duration, parse_size

SIZE_FACTORS = {
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("512", 512),
        ("64MiB", 64 * 1024**2),
        ("1GiB", 1024**3),
        ("1.5GiB", 1536 * 1024**2),
        ("10 MB", 10_000_000),
        ("2kib", 2048),
        (".5KiB", 512),
        ("  7B ", 7),
        (4096, 4096),
        (0, 0),
    ],
)
def test_parse_size_reads_units_and_plain_numbers(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_drops_fractions_of_a_byte() -> None:
    assert parse_size("1.1KiB") == 1126


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "cannot be negative"),
        ("-64MiB", "cannot be negative"),
        (-5, "cannot be negative"),
        ("abc", "is not a size"),
        ("", "is not a size"),
        ("MiB", "is not a size"),
        ("1.5.5MiB", "is not a size"),
        ("1e3", "is not a size"),
        ("12 XB", "unknown size unit"),
        ("9" * 30, "too large"),
        (True, "not a boolean"),
    ],
)
def test_parse_size_rejects_negative_and_garbage(text: str | int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", 0.25),
        ("5s", 5.0),
        ("5m", 300.0),
        ("48h", 172800.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("1h 30m 5s", 5405.0),
        ("1.5h", 5400.0),
        ("90", 90.0),
        ("0.5", 0.5),
        (30, 30.0),
        (2.5, 2.5),
        ("0s", 0.0),
    ],
)
def test_parse_duration_reads_units_combinations_and_bare_seconds(
    text: str | int | float, expected: float
) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-5s", "cannot be negative"),
        ("-1", "cannot be negative"),
        (-1.0, "cannot be negative"),
        ("5x", "is not a duration"),
        ("", "is not a duration"),
        ("m", "is not a duration"),
        ("5 minutes", "is not a duration"),
        ("1m1m", "twice"),
        (math.inf, "finite"),
        (math.nan, "finite"),
        ("9" * 20 + "d", "too long"),
        (False, "not a boolean"),
    ],
)
def test_parse_duration_rejects_negative_and_garbage(text: str | int | float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0s"), (0.1, "100ms"), (5.0, "5s"), (300.0, "5m"), (5400.0, "1h30m"), (172800, "2d")],
)
def test_format_duration_spells_whole_units(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_size_uses_the_largest_exact_binary_unit() -> None:
    assert format_size(64 * 1024**2) == "64MiB"
    assert format_size(3 * 1024) == "3KiB"
    assert format_size(1536) == "1536"
    assert format_size(0) == "0"


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(SIZE_FACTORS)))
def test_parse_size_multiplies_by_the_unit(number: int, unit: str) -> None:
    assert parse_size(f"{number}{unit}") == number * SIZE_FACTORS[unit]
    assert parse_size(f"{number} {unit.lower()}") == number * SIZE_FACTORS[unit]


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_format_size_round_trips_through_parse_size(size: int) -> None:
    assert parse_size(format_size(size)) == size


@given(st.integers(min_value=0, max_value=10**14))
def test_format_duration_round_trips_whole_milliseconds(millis: int) -> None:
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_format_duration_round_trips_any_float(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.text(max_size=30))
def test_parse_size_of_any_text_is_a_size_or_a_value_error(text: str) -> None:
    try:
        result = parse_size(text)
    except ValueError:
        return
    assert isinstance(result, int)
    assert result >= 0


@given(st.text(max_size=30))
def test_parse_duration_of_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert isinstance(result, float)
    assert 0 <= result < math.inf
