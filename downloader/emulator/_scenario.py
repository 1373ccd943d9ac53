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
    order_item_lists = true          # GET /v0/order-items?order_ids= (pages); false: 404
    alteryx_job_lists = true         # GET /v3/workflows/{id}/jobs (pages); false: 404
    list_failures = 0                # the first N list requests (any of the four): 503
    list_retry_after = "1"           # ... with this Retry-After
    list_delay = 0.0                 # seconds each list page takes to answer
    output_redirect_host = "localhost"  # Alteryx outputs: 302 to this host (another origin)
    token_line_break = false         # true: Alteryx tokens carry a CR LF (a broken server)
    scale_next_origin = "http://scale.internal:8000"  # Scale's page links name this
                                     # origin (a proxy that does not pass the host on)
    # job_list_malformed = "huge_number"  # Pixxel's job lists spoiled as `malformed` below
    hook_failures = 0                # POST /hooks/events (a webhook receiver) answers 503
                                     # this many times before it takes events

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
    # geometry = { type = "Polygon", coordinates = [[[77.5, 12.9], [77.7, 12.9], ...]] }
    # acquired = 2026-05-01T05:30:00Z  # both shown by GET /v0/catalogs/{id} (its STAC
    #                                  # details) and by an order item's images

    [[pixxel.order_item]]            # the same keys, and GET /v0/order-items/{id}:
    id = "0b7c..."
    polls_until_done = 2             # answers ACTIVE before FULFILLED
    # outcome = "CANCELLED"          -> ends CANCELLED (or FAILED ...) instead
    # task_outcome = "EXPIRED"       -> stays ACTIVE, its task EXPIRED
    # status_case = "lower"          -> "fulfilled"; "upper" (default) or "title"
    # refuse_downloads = 2           -> the first 2 download requests get 400 all the same

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
    # messages_answer = "array"      -> GET /v3/jobs/{id}/messages answers a list of them;
    #                                   "object": only the first, as the swagger declares;
    #                                   "forbidden": 403, as to anyone but a Curator

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
  | "html_error" | "huge_body" | "login_page" | "huge_integer" | "huge_number"` (and
  `malformed_times = N`, default -1: every time): the item's API answers are
  spoiled that way (see `_malform`).  `huge_integer` adds a `size` field of 5,000
  digits and `huge_number` writes the answer's key field as one: valid JSON that
  Python's `json` refuses to convert, which the client reads as an answer that
  cannot be read (`MalformedResponse`).
- `url_lifetime`: overrides the signed URL lifetime of this item's package.
- `created_at = "2026-11-01T00:00:00Z"`: the creation time the lists report (Pixxel
  jobs and order items, Scale jobs, Alteryx jobs); default: the emulator's start.
- `listed_after = 30`: no list shows the item until 30 s after the emulator started
  (a job added while a client runs).  Order items also take `order_id` (default
  `order-of-<id>`), Scale jobs `job_type_name` and `job_type_id` (the list filters
  on them), Alteryx jobs are listed under their `app_id` (the workflow).
- `faults = { drop_after_bytes = 100000, ... }`: `Faults` of the file host for
  every file of the item (see `_filespec.Faults`).  `faults = { gather = 8 }` holds each of
  the item's file responses until 8 file requests are open at once (see `_gather`).
- `corrupt_member = "a.tif"`: the first response that carries the middle byte of that
  member of the item's ZIP package (Pixxel) or ZIP file (Scale) has one bit of it
  flipped, as a link may do in transit; later responses are intact.

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
    LOGIN_PAGE = "login_page"
    HUGE_INTEGER = "huge_integer"
    HUGE_NUMBER = "huge_number"


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
    corrupt_member: str | None = None
    """A ZIP member of the item's package with one bit flipped on the first response."""
    created_at: str | None = None
    """The creation time lists report (ISO 8601); default: when the emulator started."""
    listed_after: float = 0.0
    """Seconds after the emulator started before lists show the item (a job that is
    added to the platform while a client runs)."""

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
class OrderItemSpec:
    """How an order item's `GET /v0/order-items/{id}` goes (order items only).

    It answers `ACTIVE` (its task `IN_PROGRESS`) until its `done` timing is over,
    then `FULFILLED`, or `outcome` (e.g. `CANCELLED`, `FAILED`) with its task in the
    same state, or, with `task_outcome` (e.g. `EXPIRED`), stays `ACTIVE` with its task
    in that state.  `status_case` writes every status word `upper` (as documented),
    `lower` or `title`.  A download requested while the item is not fulfilled, and
    the first `refuse_downloads` ones after, are answered 400.
    """

    done: Timing = Timing()
    outcome: str | None = None
    task_outcome: str | None = None
    status_case: str = "upper"
    refuse_downloads: int = 0
    order_id: str | None = None
    """The order it belongs to (`GET /v0/order-items?order_ids=`); default `order-of-<id>`."""


@dataclass(frozen=True)
class PixxelDownload:
    """A catalog or an order item, packaged by `POST /v0/catalogs/download`."""

    kind: DownloadKind
    id: str
    files: tuple[FileEntry, ...] = ()
    ready: Timing = Timing()
    fail: str | None = None
    knobs: Knobs = Knobs()
    geometry: Mapping[str, Any] | None = None
    """The footprint (GeoJSON) that `GET /v0/catalogs/{id}` and the order item's image
    show; None: they show none."""
    acquired: str | None = None
    """When the image was taken (RFC 3339), shown beside the footprint."""
    order: OrderItemSpec = OrderItemSpec()

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
    job_type_name: str = "emulated-product"
    job_type_id: int = 8

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
    messages_answer: str = "array"

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
    scale_next_origin: str | None = None
    order_item_lists: bool = True
    """`GET /v0/order-items` (an order's items); false: 404."""
    alteryx_job_lists: bool = True
    """`GET /v3/workflows/{id}/jobs`; false: 404."""
    list_failures: int = 0
    """The first N requests to any list route (all four) are answered 503."""
    list_retry_after: str = "1"
    """The Retry-After of those 503s."""
    list_delay: float = 0.0
    """Seconds each list answer (any of the four) takes: a slow list, read page by page."""
    job_list_malformed: Malformed | None = None
    hook_failures: int = 0


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
