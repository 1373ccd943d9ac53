"""Scale jobs and product files as JSON, in the v6 and the legacy (3.x) shapes. Pure.

Product files get ids from 1001 upwards in scenario order.  A file's `url` is its
workspace base URL plus its path, as Scale computes it; here the workspace is the
emulator's file host.  Files exist only once their job has COMPLETED.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from downloader.emulator._items import slug
from downloader.emulator._scenario import FileEntry, ScaleJob, Scenario
from downloader.emulator._state import iso

FIRST_FILE_ID = 1001
_JOB_TYPE = {"id": 8, "name": "emulated-product", "version": "1.0.0", "title": "Emulated Product"}
_WORKSPACE = {"id": 2, "name": "products"}


@dataclass(frozen=True)
class ProductFile:
    """One product file of a Scale job."""

    id: int
    job: ScaleJob
    entry: FileEntry

    @property
    def file_path(self) -> str:
        """The path inside the workspace, as Scale reports it."""
        return f"products/{self.job.id}/{self.entry.name}"

    @property
    def host_path(self) -> str:
        """Where the file host serves it (URL-safe whatever the file's name)."""
        return f"/files/scale/{self.job.id}/{self.id}/{slug(self.entry.name)}"


def build_files(scenario: Scenario) -> list[ProductFile]:
    """Every product file of a scenario, in id order."""
    files: list[ProductFile] = []
    for job in scenario.scale_jobs:
        for entry in job.files:
            files.append(ProductFile(FIRST_FILE_ID + len(files), job, entry))
    return files


def job_status(job: ScaleJob, done: bool, polls: int) -> str:
    """QUEUED on the first look, RUNNING after, then the job's final status."""
    if not done:
        return "QUEUED" if polls <= 1 else "RUNNING"
    if job.fail is not None:
        return "FAILED"
    return "CANCELED" if job.cancel else "COMPLETED"


def _error(job: ScaleJob, at: float) -> dict[str, Any] | None:
    if job.fail is None:
        return None
    return {
        "id": 7,
        "name": "algorithm-failure",
        "title": "Algorithm Failure",
        "description": job.fail,
        "category": "ALGORITHM",
        "is_builtin": False,
        "should_be_retried": False,
        "created": iso(at),
        "last_modified": iso(at),
    }


def _times(status: str, started: float, now: float) -> dict[str, Any]:
    final = status in ("COMPLETED", "FAILED", "CANCELED")
    return {
        "created": iso(started),
        "queued": iso(started),
        "started": iso(started) if status != "QUEUED" else None,
        "ended": iso(now) if final else None,
        "last_status_change": iso(now),
        "last_modified": iso(now),
    }


def v6_job_summary(job: ScaleJob, status: str, started: float, now: float) -> dict[str, Any]:
    """A `GET /v6/jobs/` list item: the job fields without the detail-only ones."""
    job_type = {**_JOB_TYPE, "id": job.job_type_id, "name": job.job_type_name}
    times = _times(status, started, now)
    if job.knobs.created_at is not None:
        times["created"] = job.knobs.created_at
    return {
        "id": job.id,
        "job_type": job_type,
        "job_type_rev": {"id": 5, "job_type": {"id": job.job_type_id}, "revision_num": 1},
        "event": {"id": 10000 + job.id, "type": "USER", "occurred": iso(started)},
        "recipe": None,
        "batch": None,
        "is_superseded": False,
        "superseded_job": None,
        "status": status,
        "node": {"id": 1, "hostname": "node-1"} if status != "QUEUED" else None,
        "error": _error(job, now) if status == "FAILED" else None,
        "num_exes": 0 if status == "QUEUED" else 1,
        "input_file_size": 0.0,
        "input_files": {},
        "source_started": None,
        "source_ended": None,
        "superseded": None,
        **times,
    }


def v6_job(
    job: ScaleJob, status: str, files: list[ProductFile], started: float, now: float
) -> dict[str, Any]:
    """The `GET /v6/jobs/{id}/` answer: the list item plus the details."""
    outputs: dict[str, list[int]] = {}
    for product in files:
        outputs.setdefault(product.entry.output, []).append(product.id)
    return {
        **v6_job_summary(job, status, started, now),
        "superseded_by_job": None,
        "resources": {"resources": {"cpus": 1.0, "mem": 1024.0, "disk": 1024.0}},
        "max_tries": 3,
        "input": {"files": {}, "json": {}},
        "output": {"files": outputs, "json": {}} if status == "COMPLETED" else None,
    }


def v6_file(product: ProductFile, url: str | None, at: float) -> dict[str, Any]:
    """A `ScaleFileSerializerV6` object."""
    return {
        "id": product.id,
        "workspace": _WORKSPACE,
        "file_name": product.entry.name,
        "file_path": product.file_path,
        "file_type": "PRODUCT",
        "media_type": product.entry.media_type,
        "file_size": product.entry.size,
        "data_type_tags": [],
        "is_deleted": False,
        "url": url,
        "created": iso(at),
        "deleted": None,
        "data_started": None,
        "data_ended": None,
        "source_started": None,
        "source_ended": None,
        "source_sensor_class": None,
        "source_sensor": None,
        "source_collection": None,
        "source_task": None,
        "geometry": None,
        "center_point": None,
        "countries": [],
        "last_modified": iso(at),
        "job": {"id": product.job.id},
        "job_exe": {"id": 50000 + product.job.id},
        "job_output": product.entry.output,
        "job_type": _JOB_TYPE,
        "recipe": None,
        "recipe_node": None,
        "recipe_type": None,
        "batch": None,
        "is_superseded": False,
        "superseded": None,
    }


def legacy_file(product: ProductFile, url: str | None, at: float) -> dict[str, Any]:
    """A 3.x product file object, as inlined in a legacy job's `outputs[]`."""
    identity = f"{_JOB_TYPE['id']}\0{product.entry.name}".encode()
    return {
        "id": product.id,
        "workspace": _WORKSPACE,
        "file_name": product.entry.name,
        "media_type": product.entry.media_type,
        "file_size": product.entry.size,
        "data_type": [],
        "is_deleted": False,
        "uuid": hashlib.md5(identity, usedforsecurity=False).hexdigest(),
        "url": url,
        "created": iso(at),
        "deleted": None,
        "data_started": None,
        "data_ended": None,
        "geometry": None,
        "center_point": None,
        "meta_data": {},
        "countries": [],
        "last_modified": iso(at),
        "is_operational": True,
        "is_published": True,
        "has_been_published": True,
        "published": iso(at),
        "unpublished": None,
        "job_type": _JOB_TYPE,
        "job": {"id": product.job.id},
        "job_exe": {"id": 50000 + product.job.id},
    }


def legacy_job(
    job: ScaleJob,
    status: str,
    products: list[tuple[str, dict[str, Any]]],
    started: float,
    now: float,
) -> dict[str, Any]:
    """The 3.x `GET /jobs/{id}/` answer; `products` are (output name, legacy file object)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for name, obj in products:
        grouped.setdefault(name, []).append(obj)
    merged = [
        {"name": name, "type": "file", "value": objs[0]}
        if len(objs) == 1
        else {"name": name, "type": "files", "value": objs}
        for name, objs in grouped.items()
    ]
    job_type = {**_JOB_TYPE, "id": job.job_type_id, "name": job.job_type_name}
    times = _times(status, started, now)
    if job.knobs.created_at is not None:
        times["created"] = job.knobs.created_at
    return {
        "id": job.id,
        "job_type": job_type,
        "job_type_rev": {"id": 5, "job_type": {"id": job.job_type_id}, "revision_num": 1},
        "event": {"id": 10000 + job.id, "type": "USER", "occurred": iso(started)},
        "error": _error(job, now) if status == "FAILED" else None,
        "status": status,
        "priority": 100,
        "num_exes": 0 if status == "QUEUED" else 1,
        "timeout": 1800,
        "max_tries": 3,
        "is_superseded": False,
        "root_superseded_job": None,
        "superseded_job": None,
        "superseded_by_job": None,
        "delete_superseded": True,
        "superseded": None,
        "data": {"version": "1.0", "input_data": [], "output_data": []},
        "results": {"version": "1.0", "output_data": []},
        "recipes": [],
        "job_exes": [],
        "inputs": [],
        "outputs": merged,
        **times,
    }
