"""The archive: where items go, how their bags are built, and their fixity audit.

`item_path` says where an item's bag lives below the archive root, `BagBuilder`
assembles a bag under `.partial/` and renames it into place when it is complete,
`check_zip`/`extract_zip` vet and safely unpack ZIP packages, and `verify_bag`
re-hashes an archived bag against its manifests.
"""

from __future__ import annotations

from downloader.archive._audit import AuditProblem, BagAudit, ProblemKind, verify_bag
from downloader.archive._bagit import BagBuilder, read_identifier
from downloader.archive._layout import item_path, replaced_path, staging_path
from downloader.archive._tagfiles import PayloadFile
from downloader.archive._zipcheck import (
    ExtractedFile,
    ZipMember,
    ZipReport,
    check_zip,
    extract_zip,
)

__all__ = [
    "AuditProblem",
    "BagAudit",
    "BagBuilder",
    "ExtractedFile",
    "PayloadFile",
    "ProblemKind",
    "ZipMember",
    "ZipReport",
    "check_zip",
    "extract_zip",
    "item_path",
    "read_identifier",
    "replaced_path",
    "staging_path",
    "verify_bag",
]
