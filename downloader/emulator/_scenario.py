"""What the emulator pretends exists: credentials, defaults and items. Pure data.

A scenario is written in TOML (parsed by `_scenario_toml.parse_scenario`) or built
in code from these dataclasses.  Example::

    [emulator]
    seed = 1                         # all file contents derive from it
    pixxel_api_key = "px-demo-key"   # sent as "Authorization: <key>" or "Bearer <key>"
    scale_token = "sc-demo-token"    # "Authorization: Token <tok>"; omit: no auth needed
    alteryx_client_id = "ayx-id"     # HTTP Basic on POST /oauth2/token
    alteryx_client_secret = "ayx-secret"
    token_lifetime = 3600            # seconds an Alteryx access token stays valid
    url_lifetime = 600               # seconds a signed Pixxel package URL stays valid
    page_size = 100                  # Scale page size when the request names none
    scale_api_version = "v6"         # what `write_client_files` configures: "v6" | "legacy"
    job_lists = true                 # job-list routes (Pixxel, Scale v6); false: they 404
    output_redirect_host = "localhost"  # Alteryx outputs: 302 to this host (another origin)
    token_line_break = false         # true: Alteryx tokens carry a CR LF (a broken server)

    [[pixxel.job]]
    workflow_id = "wf-1"
    job_id = "job-1"
    polls_until_done = 2             # GETs answered "running" before "completed"
    polls_until_ready = 2            # download PUTs answered "pending" before "ready"
    files = [{ name = "scene.tif", size = 5242880 }, { name = "meta.json", size = 2048 }]

    [[pixxel.task]]                  # tasks[] of its job; PUT .../tasks/{task}/download
    workflow_id = "wf-1"
    job_id = "job-1"
    task_id = "task-1"
    files = [{ name = "ndvi.tif", size = 1000000 }]

    [[pixxel.catalog]]               # POST /v0/catalogs/download, then GET its status
    id = "5d0c..."
    files = [{ name = "scene.tif", size = 300000 }]
    # [[pixxel.order_item]] takes the same keys

    [[scale.job]]
    id = 15096
    files = [{ name = "a.kml", size = 1000, media_type = "text/xml", output = "kml" }]
    # a file given `members = [{ name = "b.tif", size = 4096 }, ...]` instead of a size
    # is a STORED ZIP of those generated files
    # null_url = true                -> every file's "url" is null
    # cancel = true                  -> ends CANCELED instead of COMPLETED

    [[alteryx.job]]
    id = "66ebd18d3d6200007e000d8c"
    outputs = [{ id = "o1", file_name = "result.csv", size = 1000, formats = ["Raw", "Csv"] }]
    messages = [{ status = 1, text = "Finished running", tool_id = 3 }]
    # disposition = "Success"; cancel = true -> "Cancelled"; app_id = "app-1"

Every item also takes these knobs:

- `polls_until_done` / `seconds_until_done`: how long the remote job runs (counted
  in status answers, a job GET or a job list showing it, or in clock seconds from
  the first request naming the item).
- `polls_until_ready` / `seconds_until_ready`: how long a package is prepared
  (Pixxel download PUTs / catalog status GETs before the URL is handed out).
- `fail = "message"`: the job (or catalog download) ends failed with that text.
- `throttle = N`, `retry_after = "1"`: the first N API calls naming the item get
  429 with that `Retry-After`.
- `malformed = "unknown_status" | "missing_field" | "wrong_type" | "truncated_json"
  | "html_error" | "huge_body"` (and `malformed_times = N`, default -1: every
  time): the item's API answers are spoiled that way (see `_malform`).
- `url_lifetime`: overrides the signed URL lifetime of this item's package.
- `faults = { drop_after_bytes = 100000, ... }`: `Faults` of the file host for
  every file of the item (see `_filespec.Faults`).

Unknown keys, wrong types, duplicate items, ids that are not URL-safe
(`[A-Za-z0-9][A-Za-z0-9._~-]*`) and repeated file names within an item are errors.
Item keys follow the contract: `pixxel:job:WF/JOB`, `pixxel:task:WF/JOB/TASK`,
`pixxel:catalog:ID`, `pixxel:order_item:ID`, `scale:job:ID`, `alteryx:job:ID`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from downloader.emulator._filespec import Faults


class Malformed(StrEnum):
    """The ways an API answer can be spoiled."""

    UNKNOWN_STATUS = "unknown_status"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    TRUNCATED_JSON = "truncated_json"
    HTML_ERROR = "html_error"
    HUGE_BODY = "huge_body"


@dataclass(frozen=True)
class Timing:
    """How long something takes: `polls` answers saying "not yet", or `seconds` of clock."""

    polls: int = 0
    seconds: float | None = None


@dataclass(frozen=True)
class Knobs:
    """Misbehaviour common to every item kind."""

    throttle: int = 0
    retry_after: str = "1"
    malformed: Malformed | None = None
    malformed_times: int = -1
    url_lifetime: float | None = None
    faults: Mapping[str, Any] = field(default_factory=dict)

    def file_faults(self) -> Faults:
        """A fresh `Faults` for one served file (the host consumes queued faults)."""
        return Faults(**copy.deepcopy(dict(self.faults)))


@dataclass(frozen=True)
class FileEntry:
    """One generated file; `output` is the Scale job output it belongs to.

    With `members` (Scale files only) the file is a STORED ZIP of those generated
    files, and `size` is the ZIP's own size.
    """

    name: str
    size: int
    media_type: str = "application/octet-stream"
    output: str = "output_file"
    members: tuple[FileEntry, ...] = ()


@dataclass(frozen=True)
class PixxelJob:
    workflow_id: str
    job_id: str
    files: tuple[FileEntry, ...] = ()
    done: Timing = Timing()
    ready: Timing = Timing()
    fail: str | None = None
    knobs: Knobs = Knobs()

    @property
    def key(self) -> str:
        return f"pixxel:job:{self.workflow_id}/{self.job_id}"


@dataclass(frozen=True)
class PixxelTask:
    workflow_id: str
    job_id: str
    task_id: str
    name: str = ""
    files: tuple[FileEntry, ...] = ()
    done: Timing = Timing()
    ready: Timing = Timing()
    fail: str | None = None
    knobs: Knobs = Knobs()

    @property
    def key(self) -> str:
        return f"pixxel:task:{self.workflow_id}/{self.job_id}/{self.task_id}"

    @property
    def job_key(self) -> str:
        return f"pixxel:job:{self.workflow_id}/{self.job_id}"


class DownloadKind(StrEnum):
    """The two id lists `POST /v0/catalogs/download` takes."""

    CATALOG = "catalog"
    ORDER_ITEM = "order_item"


@dataclass(frozen=True)
class PixxelDownload:
    """A catalog or an order item, packaged by `POST /v0/catalogs/download`."""

    kind: DownloadKind
    id: str
    files: tuple[FileEntry, ...] = ()
    ready: Timing = Timing()
    fail: str | None = None
    knobs: Knobs = Knobs()

    @property
    def key(self) -> str:
        return f"pixxel:{self.kind}:{self.id}"


@dataclass(frozen=True)
class ScaleJob:
    id: int
    files: tuple[FileEntry, ...] = ()
    done: Timing = Timing()
    fail: str | None = None
    cancel: bool = False
    null_url: bool = False
    knobs: Knobs = Knobs()

    @property
    def key(self) -> str:
        return f"scale:job:{self.id}"


@dataclass(frozen=True)
class AlteryxOutput:
    id: str
    file_name: str
    size: int
    formats: tuple[str, ...] = ("Raw",)


@dataclass(frozen=True)
class AlteryxMessage:
    status: int
    text: str
    tool_id: int = 0


@dataclass(frozen=True)
class AlteryxJob:
    id: str
    outputs: tuple[AlteryxOutput, ...] = ()
    done: Timing = Timing()
    disposition: str = "Success"
    fail: str | None = None
    cancel: bool = False
    messages: tuple[AlteryxMessage, ...] = ()
    app_id: str = "app-1"
    knobs: Knobs = Knobs()

    @property
    def key(self) -> str:
        return f"alteryx:job:{self.id}"


Item = PixxelJob | PixxelTask | PixxelDownload | ScaleJob | AlteryxJob


@dataclass(frozen=True)
class Settings:
    """The `[emulator]` table."""

    seed: int = 1
    pixxel_api_key: str = "px-test-key"
    scale_token: str | None = None
    alteryx_client_id: str = "ayx-id"
    alteryx_client_secret: str = "ayx-secret"  # noqa: S105 - a loopback test value
    token_lifetime: float = 3600.0
    url_lifetime: float = 600.0
    page_size: int = 100
    scale_api_version: str = "v6"
    job_lists: bool = True
    output_redirect_host: str | None = None
    """Alteryx output GETs answer 302 to the file on this host (same port), as a server
    that hands outputs to a CDN does; None serves them in place."""
    token_line_break: bool = False
    """Alteryx access tokens with a CR LF inside, which no header can carry."""


@dataclass(frozen=True)
class Scenario:
    """Everything the emulator serves."""

    settings: Settings = Settings()
    pixxel_jobs: tuple[PixxelJob, ...] = ()
    pixxel_tasks: tuple[PixxelTask, ...] = ()
    pixxel_downloads: tuple[PixxelDownload, ...] = ()
    scale_jobs: tuple[ScaleJob, ...] = ()
    alteryx_jobs: tuple[AlteryxJob, ...] = ()

    def items(self) -> list[Item]:
        """Every item, in watchlist order."""
        return [
            *self.pixxel_jobs,
            *self.pixxel_tasks,
            *self.pixxel_downloads,
            *self.scale_jobs,
            *self.alteryx_jobs,
        ]
