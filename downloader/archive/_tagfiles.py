"""The text of a BagIt bag's tag files (RFC 8493): rendering and parsing.

A pure core shared by the bag builder and the fixity audit: strings in, strings
out.  Nothing here may import anyio, asyncio or os, or touch the filesystem.

Manifest paths and the `%` sign.  RFC 8493 §2.1.3 asks for CR, LF and `%` to be
percent-encoded in manifest paths.  Nearly every BagIt tool in use (the Library of
Congress `bagit` package among them) encodes CR and LF but writes `%` as is, so a
bag that encodes every `%` fails their validation.  We encode CR and LF always, and
`%` whenever it is followed by two hex digits, i.e. whenever a percent-decoder
could misread it; a `%` that starts no escape (`100% cover.tif`) is written as is,
which every reader takes literally.  Reading decodes exactly `%0D`, `%0A` and
`%25` (any case) in one pass, so bags from either camp read correctly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "BAGIT_TXT",
    "BAGIT_VERSION",
    "EXTRA_TAG_FILES",
    "HASH_ALGORITHMS",
    "ManifestEntry",
    "PayloadFile",
    "decode_manifest_path",
    "encode_manifest_path",
    "is_tag_file",
    "manifest_name",
    "parse_bag_info",
    "parse_bagit_txt",
    "parse_manifest",
    "parse_oxum",
    "render_bag_info",
    "render_manifest",
    "render_tag_files",
]

BAGIT_VERSION = "1.0"
BAGIT_TXT = f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n"

HASH_ALGORITHMS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
"""Manifest algorithms the audit can check (names as in `manifest-<name>.txt`)."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ESCAPABLE_PERCENT = re.compile(r"%(?=[0-9A-Fa-f]{2})")
_ENCODED = re.compile(r"%(0[ADad]|25)")
_MANIFEST_LINE = re.compile(r"(?P<digest>[0-9A-Fa-f]+)[ \t]+(?P<path>.+)", re.DOTALL)
_OXUM = re.compile(r"(\d+)\.(\d+)")
_MANIFEST_FILE = re.compile(r"(?:tag)?manifest-[A-Za-z0-9]+\.txt")
_PLATFORM_TAG_FILE = re.compile(r"[a-z]+-[a-z-]+\.json")
"""What a platform said of the item besides its payload, e.g. `alteryx-messages.json`."""


@dataclass(frozen=True)
class PayloadFile:
    """One payload file as declared: its path below `data/`, size and digests (hex)."""

    path: str
    size: int
    sha256: str
    md5: str | None = None


def manifest_name(algorithm: str, *, tag: bool = False) -> str:
    """`manifest-sha256.txt`, or `tagmanifest-sha256.txt` with `tag`."""
    return f"{'tag' if tag else ''}manifest-{algorithm}.txt"


EXTRA_TAG_FILES = frozenset({"stac-item.json"})
"""Tag files of ours beyond BagIt's own, each listed in the tag manifest."""


def is_tag_file(name: str) -> bool:
    """Whether a top-level file name is one of the tag files a bag of ours may hold."""
    return (
        name in ("bagit.txt", "bag-info.txt")
        or name in EXTRA_TAG_FILES
        or bool(_MANIFEST_FILE.fullmatch(name))
        or bool(_PLATFORM_TAG_FILE.fullmatch(name))
    )


def encode_manifest_path(path: str) -> str:
    """`path` as written in a manifest line (see the module docstring for `%`)."""
    text = _ESCAPABLE_PERCENT.sub("%25", path)
    return text.replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(text: str) -> str:
    """The file path a manifest line names; inverse of `encode_manifest_path`."""
    return _ENCODED.sub(lambda match: chr(int(match[1], 16)), text)


def _lines(text: str) -> list[str]:
    # Only CR and LF end a line: str.splitlines would also split on characters that
    # may appear in file names (form feed, U+2028, ...).
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def render_manifest(entries: Iterable[tuple[str, str]]) -> str:
    """Manifest text for `(path, hex digest)` pairs, sorted by path, LF line ends."""
    return "".join(
        f"{digest} {encode_manifest_path(path)}\n" for path, digest in sorted(set(entries))
    )


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest line: a decoded path and its lower-case hex digest."""

    path: str
    digest: str
    line: int


def parse_manifest(text: str) -> tuple[list[ManifestEntry], list[str]]:
    """Entries of a manifest, and a description of each line that is not one."""
    entries: list[ManifestEntry] = []
    errors: list[str] = []
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        match = _MANIFEST_LINE.fullmatch(line)
        if match is None:
            errors.append(f"line {number} is not '<digest> <path>': {line!r}")
            continue
        path = decode_manifest_path(match["path"])
        entries.append(ManifestEntry(path, match["digest"].lower(), number))
    return entries, errors


def _check_label(label: str) -> None:
    if not label or label != label.strip() or ":" in label or _LINE_BREAK.search(label):
        raise ValueError(f"bag-info label {label!r} must be non-empty, without ':' or spaces")


def render_bag_info(fields: Sequence[tuple[str, str]]) -> str:
    """`bag-info.txt` text; a value's line breaks become indented continuation lines."""
    out: list[str] = []
    for label, value in fields:
        _check_label(label)
        folded = "\n  ".join(part.strip() for part in _lines(value.strip()))
        out.append(f"{label}: {folded}\n")
    return "".join(out)


def parse_bag_info(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Fields of `bag-info.txt` in order (continuations joined by a space), and errors."""
    fields: list[tuple[str, str]] = []
    errors: list[str] = []
    for number, line in enumerate(_lines(text), start=1):
        if line[:1] in (" ", "\t") and fields:
            label, value = fields[-1]
            fields[-1] = (label, f"{value} {line.strip()}".strip())
            continue
        label, sep, value = line.partition(":")
        if not sep or not label.strip():
            errors.append(f"line {number} is not 'Label: value': {line!r}")
            continue
        fields.append((label.strip(), value.strip()))
    return fields, errors


def parse_bagit_txt(text: str) -> Mapping[str, str] | None:
    """The two fields of `bagit.txt`, or None when either is missing."""
    fields, _ = parse_bag_info(text)
    values = dict(fields)
    if "BagIt-Version" not in values or "Tag-File-Character-Encoding" not in values:
        return None
    return values


def parse_oxum(value: str) -> tuple[int, int] | None:
    """`(octets, count)` from a `Payload-Oxum` value, None when malformed."""
    match = _OXUM.fullmatch(value.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2])


def render_tag_files(
    key: str,
    payload: Sequence[PayloadFile],
    *,
    bagging_date: str,
    agent: str,
    info: Mapping[str, str],
    extra: Mapping[str, bytes] | None = None,
) -> dict[str, bytes]:
    """Every tag file of a bag by name, in writing order, the tag manifest last.

    `manifest-md5.txt` is included only when every payload file has an md5.  `extra`
    adds tag files listed in the tag manifest with the others: ours of `EXTRA_TAG_FILES`
    (a STAC Item) and the platform's (names like `alteryx-messages.json`).
    """
    for name in extra or {}:
        if name not in EXTRA_TAG_FILES and not _PLATFORM_TAG_FILE.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a tag file of ours, and no name for a platform's tag file"
            )
    files: dict[str, bytes] = {"bagit.txt": BAGIT_TXT.encode()}
    files[manifest_name("sha256")] = render_manifest(
        (f"data/{entry.path}", entry.sha256) for entry in payload
    ).encode()
    if payload and all(entry.md5 for entry in payload):
        files[manifest_name("md5")] = render_manifest(
            (f"data/{entry.path}", entry.md5 or "") for entry in payload
        ).encode()
    octets = sum(entry.size for entry in payload)
    fields = [
        ("External-Identifier", key),
        ("Bagging-Date", bagging_date),
        ("Payload-Oxum", f"{octets}.{len(payload)}"),
        ("Bag-Software-Agent", agent),
        *info.items(),
    ]
    files["bag-info.txt"] = render_bag_info(fields).encode()
    files.update(extra or {})
    files[manifest_name("sha256", tag=True)] = render_manifest(
        (name, hashlib.sha256(data).hexdigest()) for name, data in files.items()
    ).encode()
    return files
