from __future__ import annotations

import base64
import hashlib
import itertools
import zlib

import crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from downloader.transfer._digests import (
    ALGORITHMS,
    ExpectedDigest,
    MultiHasher,
    find_mismatch,
    normalize_algorithm,
    parse_caller_digest,
    parse_digest_headers,
    parse_digest_headers_with_problems,
    to_b64,
    to_hex,
)

BODY = b"The quick brown fox jumps over the lazy dog\n" * 100


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


SHA256 = hashlib.sha256(BODY).digest()
SHA512 = hashlib.sha512(BODY).digest()
SHA1 = hashlib.sha1(BODY).digest()
MD5 = hashlib.md5(BODY).digest()
CRC32 = zlib.crc32(BODY).to_bytes(4, "big")
CRC32C = crc32c.crc32c(BODY).to_bytes(4, "big")


def digest(algorithm: str, value: bytes, source: str) -> ExpectedDigest:
    return ExpectedDigest(algorithm, value, source)


# --- each header kind ----------------------------------------------------------------------


def test_content_md5_counts_only_for_a_whole_body() -> None:
    headers = {"Content-MD5": b64(MD5)}
    assert parse_digest_headers(headers, whole_body=True) == [digest("md5", MD5, "Content-MD5")]
    assert parse_digest_headers(headers, whole_body=False) == []


def test_legacy_digest_header_lists_several_algorithms_in_any_case() -> None:
    value = f"SHA-256={b64(SHA256)}, sha-512={b64(SHA512)},MD5={b64(MD5)}, SHA={b64(SHA1)}"
    for whole_body in (True, False):
        assert parse_digest_headers({"digest": value}, whole_body=whole_body) == [
            digest("sha256", SHA256, "Digest"),
            digest("sha512", SHA512, "Digest"),
            digest("md5", MD5, "Digest"),
            digest("sha1", SHA1, "Digest"),
        ]


def test_legacy_digest_header_ignores_algorithms_we_cannot_check() -> None:
    value = f"UNIXsum=30637, adler32=1a2b3c4d, id-sha-256=xyz, sha-256={b64(SHA256)}"
    found, problems = parse_digest_headers_with_problems({"Digest": value}, whole_body=True)
    assert found == [digest("sha256", SHA256, "Digest")]
    assert problems == []


def test_repr_digest_is_a_structured_dictionary() -> None:
    value = f"sha-256=:{b64(SHA256)}:, sha-512=:{b64(SHA512)}:, md5=:{b64(MD5)}:"
    assert parse_digest_headers({"Repr-Digest": value}, whole_body=False) == [
        digest("sha256", SHA256, "Repr-Digest"),
        digest("sha512", SHA512, "Repr-Digest"),
        digest("md5", MD5, "Repr-Digest"),
    ]


def test_repr_digest_tolerates_parameters_and_skips_unknown_keys() -> None:
    value = f"unixsum=:AAA=:, sha-256=:{b64(SHA256)}:;note=1"
    assert parse_digest_headers({"repr-digest": value}, whole_body=False) == [
        digest("sha256", SHA256, "Repr-Digest")
    ]


def test_content_digest_counts_only_for_a_whole_body() -> None:
    headers = {"Content-Digest": f"sha-256=:{b64(SHA256)}:"}
    assert parse_digest_headers(headers, whole_body=True) == [
        digest("sha256", SHA256, "Content-Digest")
    ]
    assert parse_digest_headers(headers, whole_body=False) == []


def test_goog_hash_on_one_line() -> None:
    headers = {"x-goog-hash": f"crc32c={b64(CRC32C)},md5={b64(MD5)}"}
    assert parse_digest_headers(headers, whole_body=False) == [
        digest("crc32c", CRC32C, "x-goog-hash"),
        digest("md5", MD5, "x-goog-hash"),
    ]


def test_goog_hash_on_repeated_lines_in_a_multidict() -> None:
    headers = CIMultiDict[str]()
    headers.add("X-Goog-Hash", f"crc32c={b64(CRC32C)}")
    headers.add("x-goog-hash", f"md5={b64(MD5)}")
    headers.add("Content-Type", "application/octet-stream")
    expected = [digest("crc32c", CRC32C, "x-goog-hash"), digest("md5", MD5, "x-goog-hash")]
    assert parse_digest_headers(CIMultiDictProxy(headers), whole_body=False) == expected
    assert parse_digest_headers(list(headers.items()), whole_body=False) == expected


def test_exact_repeats_are_reported_once() -> None:
    line = ("x-goog-hash", f"crc32c={b64(CRC32C)}")
    assert parse_digest_headers([line, line], whole_body=False) == [
        digest("crc32c", CRC32C, "x-goog-hash")
    ]


@pytest.mark.parametrize(
    ("name", "algorithm", "raw"),
    [
        ("x-amz-checksum-sha256", "sha256", SHA256),
        ("x-amz-checksum-sha1", "sha1", SHA1),
        ("x-amz-checksum-crc32", "crc32", CRC32),
        ("X-Amz-Checksum-CRC32C", "crc32c", CRC32C),
    ],
)
def test_amz_checksums(name: str, algorithm: str, raw: bytes) -> None:
    assert parse_digest_headers({name: b64(raw)}, whole_body=False) == [
        digest(algorithm, raw, name.lower())
    ]


def test_amz_multipart_checksum_of_checksums_is_skipped() -> None:
    headers = [
        ("x-amz-checksum-crc32c", f"{b64(CRC32C)}-12"),
        ("x-amz-checksum-sha256", f"{b64(SHA256)}-3"),
    ]
    assert parse_digest_headers_with_problems(headers, whole_body=True) == ([], [])


def test_amz_composite_checksum_type_is_skipped_even_without_suffix() -> None:
    headers = [("x-amz-checksum-crc32", b64(CRC32)), ("x-amz-checksum-type", "COMPOSITE")]
    assert parse_digest_headers_with_problems(headers, whole_body=True) == ([], [])
    full = [("x-amz-checksum-crc32", b64(CRC32)), ("x-amz-checksum-type", "FULL_OBJECT")]
    assert parse_digest_headers(full, whole_body=True) == [
        digest("crc32", CRC32, "x-amz-checksum-crc32")
    ]


def test_amz_algorithms_we_do_not_compute_are_ignored() -> None:
    headers = {"x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "x-amz-checksum-mode": "ENABLED"}
    assert parse_digest_headers_with_problems(headers, whole_body=True) == ([], [])


def test_every_kind_together_in_header_order() -> None:
    headers = [
        ("Content-MD5", b64(MD5)),
        ("Digest", f"sha-256={b64(SHA256)}"),
        ("Repr-Digest", f"sha-512=:{b64(SHA512)}:"),
        ("Content-Digest", f"sha-256=:{b64(SHA256)}:"),
        ("x-goog-hash", f"crc32c={b64(CRC32C)}"),
        ("x-amz-checksum-crc32", b64(CRC32)),
        ("ETag", '"abc"'),
    ]
    whole = parse_digest_headers(headers, whole_body=True)
    assert [(d.algorithm, d.source) for d in whole] == [
        ("md5", "Content-MD5"),
        ("sha256", "Digest"),
        ("sha512", "Repr-Digest"),
        ("sha256", "Content-Digest"),
        ("crc32c", "x-goog-hash"),
        ("crc32", "x-amz-checksum-crc32"),
    ]
    partial = parse_digest_headers(headers, whole_body=False)
    assert [d.source for d in partial] == [
        "Digest",
        "Repr-Digest",
        "x-goog-hash",
        "x-amz-checksum-crc32",
    ]
    assert find_mismatch(whole, MultiHasher(ALGORITHMS).digests()) is not None
    hasher = MultiHasher(ALGORITHMS)
    hasher.update(BODY)
    assert find_mismatch(whole, hasher.digests()) is None


def test_missing_padding_is_tolerated() -> None:
    value = b64(SHA256).rstrip("=")
    assert parse_digest_headers({"Digest": f"sha-256={value}"}, whole_body=True) == [
        digest("sha256", SHA256, "Digest")
    ]


# --- malformed values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"Content-MD5": "not base64!!"}, "Content-MD5: md5 value 'not base64!!' is not base64"),
        ({"Content-MD5": MD5.hex()}, "Content-MD5: md5 value is 24 bytes, expected 16"),
        ({"Digest": f"sha-256={b64(SHA1)}"}, "Digest: sha256 value is 20 bytes, expected 32"),
        ({"Digest": "md5=@@@"}, "Digest: md5 value '@@@' is not base64"),
        ({"Repr-Digest": f"sha-256={b64(SHA256)}"}, "is not a byte sequence"),
        ({"Repr-Digest": "sha-512=:abc"}, "is not a byte sequence"),
        ({"Repr-Digest": f"sha-512=:{b64(SHA256)}:"}, "sha512 value is 32 bytes, expected 64"),
        ({"Content-Digest": "sha-256=:%%%:"}, "Content-Digest: sha256 value '%%%' is not base64"),
        ({"x-goog-hash": "crc32c=AAAAAAAA"}, "x-goog-hash: crc32c value is 6 bytes, expected 4"),
        ({"x-amz-checksum-sha256": "?"}, "x-amz-checksum-sha256: sha256 value '?' is not base64"),
    ],
)
def test_malformed_values_are_reported_not_raised(headers: dict[str, str], problem: str) -> None:
    found, problems = parse_digest_headers_with_problems(headers, whole_body=True)
    assert found == []
    assert len(problems) == 1
    assert problem in problems[0]
    assert parse_digest_headers(headers, whole_body=True) == []


def test_one_bad_value_does_not_hide_the_good_ones() -> None:
    headers = {
        "Digest": f"sha-256=garbage, md5={b64(MD5)}",
        "x-goog-hash": f"crc32c={b64(CRC32C)}",
    }
    found, problems = parse_digest_headers_with_problems(headers, whole_body=True)
    assert found == [digest("md5", MD5, "Digest"), digest("crc32c", CRC32C, "x-goog-hash")]
    assert len(problems) == 1
    assert problems[0].startswith("Digest: sha256")


def test_long_malformed_values_are_shortened_in_problems() -> None:
    _, problems = parse_digest_headers_with_problems({"Content-MD5": "!" * 500}, whole_body=True)
    assert len(problems[0]) < 120


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "Digest",
                    "Repr-Digest",
                    "Content-Digest",
                    "Content-MD5",
                    "x-goog-hash",
                    "x-amz-checksum-crc32c",
                    "x-amz-checksum-sha256",
                    "Other",
                ]
            ),
            st.text(),
        )
    ),
    st.booleans(),
)
def test_header_parsing_never_raises(headers: list[tuple[str, str]], whole_body: bool) -> None:
    found, problems = parse_digest_headers_with_problems(headers, whole_body=whole_body)
    assert all(d.algorithm in ALGORITHMS for d in found)
    assert all(isinstance(p, str) for p in problems)


# --- caller digests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "value", "expected"),
    [
        ("sha256", SHA256.hex(), ("sha256", SHA256)),
        ("SHA-256", SHA256.hex().upper(), ("sha256", SHA256)),
        ("sha256", b64(SHA256), ("sha256", SHA256)),
        ("sha256", base64.urlsafe_b64encode(SHA256).decode().rstrip("="), ("sha256", SHA256)),
        ("sha_512", SHA512.hex(), ("sha512", SHA512)),
        ("SHA", SHA1.hex(), ("sha1", SHA1)),
        ("sha-1", b64(SHA1), ("sha1", SHA1)),
        ("md5", f"  {MD5.hex()}\n", ("md5", MD5)),
        ("MD5", b64(MD5), ("md5", MD5)),
        ("crc32", CRC32.hex(), ("crc32", CRC32)),
        ("crc32c", b64(CRC32C), ("crc32c", CRC32C)),
        ("CRC-32C", CRC32C.hex(), ("crc32c", CRC32C)),
    ],
)
def test_caller_digest_accepts_hex_and_base64(
    algorithm: str, value: str, expected: tuple[str, bytes]
) -> None:
    parsed = parse_caller_digest(algorithm, value)
    assert (parsed.algorithm, parsed.value) == expected
    assert parsed.source == "caller"


@pytest.mark.parametrize(
    ("algorithm", "value"),
    [
        ("sha256", ""),
        ("sha256", SHA256.hex()[:-1]),
        ("sha256", MD5.hex()),
        ("sha256", "z" * 64),
        ("md5", b64(SHA256)),
        ("crc32c", "hello"),
        ("whirlpool", SHA256.hex()),
        ("", SHA256.hex()),
    ],
)
def test_caller_digest_refuses_garbage(algorithm: str, value: str) -> None:
    with pytest.raises(ValueError, match=r"digest"):
        parse_caller_digest(algorithm, value)


def test_expected_digest_refuses_wrong_lengths_and_unknown_algorithms() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ExpectedDigest("sha256", MD5, "caller")
    with pytest.raises(ValueError, match="unknown"):
        ExpectedDigest("sha3_256", SHA256, "caller")
    assert ExpectedDigest("sha256", SHA256, "caller").hex() == hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("SHA-256", "sha256"), ("sha", "sha1"), ("Crc32C", "crc32c"), ("md-5", "md5"), ("x", None)],
)
def test_algorithm_names_normalise(name: str, expected: str | None) -> None:
    assert normalize_algorithm(name) == expected


# --- hashing -------------------------------------------------------------------------------


def test_multihasher_always_includes_sha256() -> None:
    assert MultiHasher().algorithms == frozenset({"sha256"})
    assert MultiHasher(["md5"]).algorithms == frozenset({"sha256", "md5"})
    with pytest.raises(ValueError, match="unknown"):
        MultiHasher(["sha3_256"])


def test_multihasher_matches_the_reference_implementations() -> None:
    hasher = MultiHasher(ALGORITHMS)
    hasher.update(BODY)
    assert hasher.digests() == {
        "sha256": SHA256,
        "sha512": SHA512,
        "sha1": SHA1,
        "md5": MD5,
        "crc32": CRC32,
        "crc32c": CRC32C,
    }
    assert hasher.size == len(BODY)


def test_multihasher_of_nothing_gives_the_empty_digests() -> None:
    digests = MultiHasher(ALGORITHMS).digests()
    assert digests["sha256"] == hashlib.sha256(b"").digest()
    assert digests["crc32"] == b"\x00\x00\x00\x00"
    assert digests["crc32c"] == b"\x00\x00\x00\x00"


def test_crc32c_check_value() -> None:
    hasher = MultiHasher(["crc32c", "crc32"])
    hasher.update(b"123456789")
    assert hasher.digests()["crc32c"].hex() == "e3069283"
    assert hasher.digests()["crc32"].hex() == "cbf43926"


@given(st.binary(max_size=4096), st.lists(st.integers(min_value=0, max_value=4096), max_size=8))
def test_chunked_hashing_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunked = MultiHasher(ALGORITHMS)
    for start, end in itertools.pairwise(points):
        piece = data[start:end]
        chunked.update(memoryview(piece) if start % 2 else bytearray(piece))
    one_shot = MultiHasher(ALGORITHMS)
    one_shot.update(data)
    assert chunked.digests() == one_shot.digests()
    assert chunked.size == len(data)


def test_digests_can_be_read_midway() -> None:
    hasher = MultiHasher(["md5"])
    hasher.update(BODY[:10])
    assert hasher.digests()["md5"] == hashlib.md5(BODY[:10]).digest()
    hasher.update(BODY[10:])
    assert hasher.digests()["md5"] == MD5


# --- comparing -----------------------------------------------------------------------------


def test_find_mismatch_returns_the_first_disagreeing_digest() -> None:
    good = digest("sha256", SHA256, "Digest")
    bad = digest("md5", bytes(16), "Content-MD5")
    also_bad = digest("sha1", bytes(20), "caller")
    actual = {"sha256": SHA256, "md5": MD5, "sha1": SHA1}
    assert find_mismatch([good, bad, also_bad], actual) is bad
    assert find_mismatch([good], actual) is None
    assert find_mismatch([], actual) is None


def test_find_mismatch_ignores_algorithms_not_computed() -> None:
    expected = [digest("crc32c", bytes(4), "x-goog-hash")]
    assert find_mismatch(expected, {"sha256": SHA256}) is None


def test_hex_and_base64_renderings() -> None:
    assert to_hex(b"\x00\xff") == "00ff"
    assert to_b64(MD5) == b64(MD5)
    assert to_hex(SHA256) == hashlib.sha256(BODY).hexdigest()
