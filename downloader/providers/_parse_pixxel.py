"""Pixxel's answers as our values: jobs, their tasks, and download packages. Pure.

Pixxel documents no status vocabulary for jobs, tasks or job/task packages (its
examples say "running", "completed", "failed", "pending", "ready"); catalog
downloads have the enum `success|created|failed|in_progress`, order items and their
tasks upper-case enums (`ORDER_ITEM_WORDS`).  The tables below take those and the
usual synonyms, in any case; anything else is unknown, so "not ready yet".
No I/O, no aiohttp/anyio/asyncio, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from downloader.providers._parse_common import (
    RemoteState,
    Status,
    Vocabulary,
    field_list,
    field_status,
    field_str,
    http_url,
    object_of,
)
from downloader.providers._parse_scene import scene_of_order_item
from downloader.providers._types import Scene

__all__ = [
    "JOB_WORDS",
    "ORDER_ITEM_WORDS",
    "PACKAGE_WORDS",
    "JobState",
    "OrderItemState",
    "PackageState",
    "TaskState",
    "catalog_request",
    "job_failure",
    "parse_job",
    "parse_job_list",
    "parse_order_item",
    "parse_package",
]

JOB_WORDS = Vocabulary.of(
    succeeded="completed complete success successful succeeded done finished",
    failed="failed failure error errored cancelled canceled aborted rejected expired",
    running="running pending queued created submitted scheduled started in_progress"
    " processing waiting draft",
)
"""Job and task status words."""

PACKAGE_WORDS = Vocabulary.of(
    succeeded="ready success successful succeeded completed complete done available",
    failed="failed failure error errored cancelled canceled expired",
    running="pending created in_progress processing queued running preparing started",
)
"""Status words of job/task packages (PUT .../download) and catalog downloads."""


ORDER_ITEM_WORDS = Vocabulary.of(
    succeeded="fulfilled",
    failed="cancelled canceled failed",
    running="draft active partially_fulfilled",
)
"""Order item status words (`clerk.OrderItemResponse.status`)."""

_TASK_ENDS_ITEM = frozenset({"expired"})
"""Task words that end their order item: it will never be fulfilled (a failed task
of a tasking order may be tried again, so only expiry is final)."""


@dataclass(frozen=True)
class TaskState:
    """One entry of a job's `tasks[]`."""

    id: str
    name: str
    status: Status
    err_msg: str


@dataclass(frozen=True)
class JobState:
    """A Get Job answer, as far as waiting for it is concerned."""

    id: str
    status: Status
    progress: str
    tasks: tuple[TaskState, ...]
    errors: tuple[str, ...]
    """Error texts of the job itself (`err_msg`, `val_errors[]`)."""

    def task(self, task_id: str) -> TaskState | None:
        """The task with id `task_id` (or, failing that, that name)."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        return next((task for task in self.tasks if task.name == task_id), None)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _parse_task(data: Any, what: str) -> TaskState:
    obj = object_of(data, f"{what}: a task")
    task_id = field_str(obj, "id", f"{what}: a task") or ""
    word = field_status(obj, "status", f"{what}: task {task_id}")
    return TaskState(
        id=task_id,
        name=_text(obj.get("name")),
        status=JOB_WORDS.classify(word),
        err_msg=_text(obj.get("err_msg")),
    )


def _val_errors(obj: Mapping[str, Any]) -> list[str]:
    found = []
    raw = obj.get("val_errors")
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, Mapping):
            text = " - ".join(t for t in (_text(entry.get("err")), _text(entry.get("reason"))) if t)
            if text:
                found.append(text)
    return found


def parse_job(data: Any) -> JobState:
    """A `GET /v0/workflows/{wf}/jobs/{job}` answer."""
    what = "Pixxel job"
    obj = object_of(data, what)
    word = field_status(obj, "status", what)
    tasks = tuple(_parse_task(t, what) for t in field_list(obj, "tasks", what, required=False))
    errors = [_text(obj.get("err_msg")), *_val_errors(obj)]
    return JobState(
        id=_text(obj.get("id")),
        status=JOB_WORDS.classify(word),
        progress=_text(obj.get("progress")),
        tasks=tasks,
        errors=tuple(e for e in errors if e),
    )


def parse_job_list(data: Any, what: str) -> dict[str, Status]:
    """A `GET /v0/workflows/{wf}/jobs` answer: each listed job's status, by job id.

    The answer is `{"jobs": [...]}` (a bare list is taken too).  An entry without a
    usable id or status word is left out: the caller asks about that job alone.
    """
    entries = data if isinstance(data, list) else field_list(object_of(data, what), "jobs", what)
    statuses: dict[str, Status] = {}
    words: dict[str, Status] = {}  # a list of thousands of jobs has a handful of words
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        job_id, word = entry.get("id"), entry.get("status")
        if isinstance(job_id, int) and not isinstance(job_id, bool):
            job_id = str(job_id)
        if isinstance(job_id, str) and job_id and isinstance(word, str):
            status = words.get(word)
            if status is None:
                status = words[word] = JOB_WORDS.classify(word)
            statuses[job_id] = status
    return statuses


def job_failure(job: JobState, label: str) -> str:
    """Why a failed job failed, in the platform's words: its own and its tasks' errors."""
    texts = list(job.errors)
    for task in job.tasks:
        if task.err_msg:
            texts.append(f"task {task.name or task.id}: {task.err_msg}")
        elif task.status.state is RemoteState.FAILED:
            texts.append(f"task {task.name or task.id} {task.status.word}")
    if not texts:
        return f"{label} {job.status.word} (no error message given)"
    return f"{label} {job.status.word}: " + "; ".join(texts)


@dataclass(frozen=True)
class PackageState:
    """A download package as one answer describes it."""

    status: Status
    signed_url: str | None
    download_id: str | None

    @property
    def ready(self) -> bool:
        """A URL is there and the status says it may be used."""
        return self.status.state is RemoteState.SUCCEEDED and bool(self.signed_url)


def parse_package(data: Any, what: str) -> PackageState:
    """An answer of PUT `.../download` (job or task) or of the catalog download endpoints.

    `signed_url` is None while empty; a non-empty one must be an http(s) URL.
    """
    obj = object_of(data, what)
    word = field_status(obj, "status", what)
    url = field_str(obj, "signed_url", what, required=False) or None
    if url is not None:
        url = http_url(url, what, "signed_url")
    download_id = field_str(obj, "id", what, required=False) or None
    return PackageState(PACKAGE_WORDS.classify(word), url, download_id)


@dataclass(frozen=True)
class OrderItemState:
    """A `GET /v0/order-items/{id}` answer, as far as waiting for it is concerned."""

    status: Status
    tasks: tuple[tuple[str, str], ...]
    """(id, status word) of each task."""
    errors: tuple[str, ...]
    """Texts of `validation_errors`."""
    scene: Scene | None = None
    """Where and when its images were taken, where the answer says."""

    def failure(self, label: str) -> str | None:
        """Why the item will never be fulfilled, or None while it may be."""
        errors = f": {'; '.join(self.errors)}" if self.errors else ""
        if self.status.state is RemoteState.FAILED:
            return f"{label} {self.status.word}{errors}"
        for task_id, word in self.tasks:
            if word.strip().lower() in _TASK_ENDS_ITEM:
                return f"{label}: its task {task_id} {word}{errors}"
        return None


def _validation_errors(raw: Any) -> list[str]:
    """Texts of `validation_errors[]`: objects of string arrays, or plain strings."""
    found: list[str] = []
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, str) and entry.strip():
            found.append(entry.strip())
        elif isinstance(entry, Mapping):
            for key, value in entry.items():
                texts = value if isinstance(value, list) else [value]
                joined = ", ".join(_text(t) for t in texts if _text(t))
                if joined:
                    found.append(f"{key}: {joined}")
    return found


def parse_order_item(data: Any) -> OrderItemState:
    """A `GET /v0/order-items/{id}` answer; `tasks` may be absent, a task unreadable."""
    what = "Pixxel order item"
    obj = object_of(data, what)
    word = field_status(obj, "status", what)
    tasks = []
    for entry in field_list(obj, "tasks", what, required=False):
        if isinstance(entry, Mapping) and isinstance(entry.get("status"), str):
            tasks.append((_text(entry.get("id")) or "?", entry["status"]))
    return OrderItemState(
        ORDER_ITEM_WORDS.classify(word),
        tuple(tasks),
        tuple(_validation_errors(obj.get("validation_errors"))),
        scene_of_order_item(obj),
    )


def catalog_request(kind: str, item_id: str) -> dict[str, list[str]]:
    """The body of `POST /v0/catalogs/download` for one catalog or order item.

    Pixxel's schema marks both lists required while its text allows only one to be
    filled: the other one goes as an empty list.
    """
    if kind == "catalog":
        return {"catalog_ids": [item_id], "order_item_ids": []}
    if kind == "order_item":
        return {"catalog_ids": [], "order_item_ids": [item_id]}
    raise ValueError(f"a catalog download is for a catalog or an order_item, not {kind!r}")
