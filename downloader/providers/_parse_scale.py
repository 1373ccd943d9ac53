"""Scale's answers as our values: jobs, product files and their pages. Pure.

Two shapes: v6 (`GET /v6/jobs/{id}/`, products from the paginated `/v6/files/`,
many jobs' statuses from the paginated `/v6/jobs/`) and the 3.x "legacy" job
whose `outputs[]` carry the product-file objects inline.  Job statuses are
Scale's model constants (`FINAL_STATUSES` are COMPLETED, FAILED, CANCELED).
No I/O, no aiohttp/anyio/asyncio, no logging.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from downloader.errors import MalformedResponse
from downloader.providers._parse_common import (
    Status,
    Vocabulary,
    field_bool,
    field_int,
    field_list,
    field_status,
    field_str,
    http_url,
    object_of,
)

__all__ = [
    "JOB_WORDS",
    "FilesPage",
    "JobsPage",
    "ScaleFile",
    "ScaleJob",
    "listed_id",
    "next_page_url",
    "parse_files_page",
    "parse_job",
    "parse_job_list_page",
    "parse_legacy_job",
]

JOB_WORDS = Vocabulary.of(
    succeeded="completed",
    failed="failed canceled cancelled",
    running="pending blocked queued running",
)


@dataclass(frozen=True)
class ScaleFile:
    """One product file."""

    id: str
    name: str
    url: str | None
    """None when the workspace has no base URL: Scale offers no way to fetch it."""
    size: int | None
    media_type: str
    output: str
    deleted: bool
    superseded: bool

    @property
    def live(self) -> bool:
        """Neither deleted nor replaced by a newer run."""
        return not (self.deleted or self.superseded)


@dataclass(frozen=True)
class ScaleJob:
    """A job answer: its status, why it failed, and (legacy only) its product files."""

    id: str
    status: Status
    error: str
    files: tuple[ScaleFile, ...] = ()

    def failure(self) -> str:
        """Why the job did not complete, for the item's error."""
        if self.status.word.strip().upper() in ("CANCELED", "CANCELLED"):
            return f"Scale job {self.id} was canceled"
        reason = f": {self.error}" if self.error else " (no error details given)"
        return f"Scale job {self.id} {self.status.word.lower()}{reason}"


def _error_text(obj: Mapping[str, Any]) -> str:
    error = obj.get("error")
    if not isinstance(error, Mapping):
        return ""
    title = next((error[k] for k in ("title", "name") if isinstance(error.get(k), str)), "")
    description = error.get("description")
    parts = [p for p in (title, description if isinstance(description, str) else "") if p]
    return ": ".join(dict.fromkeys(parts))


def _job(obj: Mapping[str, Any], what: str) -> tuple[str, Status, str]:
    word = field_status(obj, "status", what)
    job_id = field_str(obj, "id", what, required=False) or "?"
    return job_id, JOB_WORDS.classify(word), _error_text(obj)


def parse_job(data: Any) -> ScaleJob:
    """A `GET /v6/jobs/{id}/` answer (products come from the files list)."""
    what = "Scale job"
    job_id, status, error = _job(object_of(data, what), what)
    return ScaleJob(job_id, status, error)


def parse_file(data: Any, what: str, output: str = "") -> ScaleFile:
    """A Scale file object (v6 `ScaleFileSerializerV6`, or a legacy product file)."""
    obj = object_of(data, what)
    file_id = field_str(obj, "id", what) or ""
    where = f"{what} {file_id}"
    url = field_str(obj, "url", where, required=False) or None
    if url is not None:
        url = http_url(url, where, "url")
    return ScaleFile(
        id=file_id,
        name=field_str(obj, "file_name", where) or "",
        url=url,
        size=field_int(obj, "file_size", where, required=False),
        media_type=field_str(obj, "media_type", where, required=False) or "",
        output=field_str(obj, "job_output", where, required=False) or output,
        deleted=field_bool(obj, "is_deleted", where),
        superseded=field_bool(obj, "is_superseded", where),
    )


@dataclass(frozen=True)
class FilesPage:
    """One page of `/v6/files/`."""

    files: tuple[ScaleFile, ...]
    next_url: str | None


def parse_files_page(data: Any) -> FilesPage:
    """A DRF page: `{"count", "next", "previous", "results": [...]}`."""
    what = "Scale file list"
    obj = object_of(data, what)
    results = field_list(obj, "results", what)
    files = tuple(parse_file(row, "Scale file") for row in results)
    return FilesPage(files, field_str(obj, "next", what, required=False) or None)


@dataclass(frozen=True)
class JobsPage:
    """One page of `/v6/jobs/`: each listed job's status, by job id (as text)."""

    statuses: Mapping[str, Status]
    next_url: str | None


def listed_id(value: Any) -> str | None:
    """A job id of the list as text (`"15096"`), or None when it is no job id."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 30:
        return str(int(value))
    return None


def parse_job_list_page(data: Any, what: str) -> JobsPage:
    """A DRF page of `GET /v6/jobs/`: the statuses of the jobs on it, and `next`.

    An entry without a usable id or status word is left out: the caller asks about
    that job alone.  A body without a `results` list is not a page (MalformedResponse).
    """
    obj = object_of(data, what)
    statuses: dict[str, Status] = {}
    for entry in field_list(obj, "results", what):
        if not isinstance(entry, Mapping):
            continue
        job_id, word = listed_id(entry.get("id")), entry.get("status")
        if job_id is not None and isinstance(word, str) and word.strip():
            statuses[job_id] = JOB_WORDS.classify(word)
    return JobsPage(statuses, field_str(obj, "next", what, required=False) or None)


def _legacy_values(outputs: list[Any]) -> Iterator[tuple[str, Any]]:
    """(output name, file object) of every file in a 3.x job's `outputs[]`."""
    for entry in outputs:
        if not isinstance(entry, Mapping):
            raise MalformedResponse("Scale job: an entry of 'outputs' is not an object")
        if "file_name" in entry:  # a bare file object, as some 3.x versions list them
            yield "", entry
            continue
        raw_name = entry.get("name")
        name = raw_name if isinstance(raw_name, str) else ""
        value = entry.get("value")
        if isinstance(value, list):
            yield from ((name, v) for v in value)
        elif isinstance(value, Mapping) and "file_name" in value:
            yield name, value
        # anything else is a non-file output (a number, a string): nothing to fetch


def parse_legacy_job(data: Any) -> ScaleJob:
    """A 3.x `GET /jobs/{id}/` answer, with its product files from `outputs[]`."""
    what = "Scale job"
    obj = object_of(data, what)
    job_id, status, error = _job(obj, what)
    outputs = field_list(obj, "outputs", what, required=False)
    files = tuple(
        parse_file(value, "Scale product", output) for output, value in _legacy_values(outputs)
    )
    return ScaleJob(job_id, status, error, files)


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def next_page_url(next_url: str, base_url: str, what: str = "Scale file list") -> str:
    """The URL to follow for a page's `next`: always on `base_url`'s origin.

    Behind a proxy that does not pass the host name on (or ends TLS), Django builds
    its links with its own address (`http://10.0.0.7:8000/v6/files/?page=2`), which
    is no way to reach it from here.  So a link on another origin is followed by its
    path and query on `base_url` (below `base_url`'s path, if the link is not there
    already); the token is never sent to another host.  A link that cannot be read
    raises MalformedResponse naming `what`, the list.
    """
    try:
        target, base = urlsplit(next_url), urlsplit(base_url)
        same = _origin(target) == _origin(base)
    except ValueError:
        raise MalformedResponse(f"{what}: 'next' is not a valid URL") from None
    if same:
        return next_url
    path, prefix = target.path or "/", base.path.rstrip("/")
    if prefix and path != prefix and not path.startswith(prefix + "/"):
        path = prefix + path
    return urlunsplit((base.scheme, base.netloc, path, target.query, ""))
