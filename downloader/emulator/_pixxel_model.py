"""Pixxel jobs as the emulator models them, and the JSON bodies describing them. Pure.

A job's `tasks[]` are the scenario's `[[pixxel.task]]` entries with its ids; a job
with none gets one task of its own.  A job named only by its tasks is implied
(it takes the knobs of its first task).  Every task finishes on its own timing,
counted in status answers about the job (each Get Job, each listing showing it);
the job finishes when its own timing is over and every task has finished, and
has failed when it or any task has a `fail`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from downloader.emulator._scenario import Knobs, PixxelJob, PixxelTask, Scenario, Timing
from downloader.emulator._state import iso


@dataclass
class JobModel:
    """One remote Pixxel job: its scenario entry (or a stand-in) and its tasks."""

    job: PixxelJob
    explicit: bool
    tasks: list[PixxelTask] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.job.key

    @property
    def knobs(self) -> Knobs:
        return self.job.knobs if self.explicit or not self.tasks else self.tasks[0].knobs

    @property
    def timing(self) -> Timing:
        return self.job.done if self.explicit else Timing()


def build_jobs(scenario: Scenario) -> dict[tuple[str, str], JobModel]:
    """Every Pixxel job of a scenario, by (workflow id, job id)."""
    jobs = {(j.workflow_id, j.job_id): JobModel(j, True) for j in scenario.pixxel_jobs}
    for task in scenario.pixxel_tasks:
        ids = (task.workflow_id, task.job_id)
        if ids not in jobs:
            jobs[ids] = JobModel(PixxelJob(task.workflow_id, task.job_id), False)
        jobs[ids].tasks.append(task)
    for model in jobs.values():
        if not model.tasks:
            job = model.job
            model.tasks.append(
                PixxelTask(
                    job.workflow_id,
                    job.job_id,
                    f"{job.job_id}-task-1",
                    name="processing",
                    done=job.done,
                    fail=job.fail,
                )
            )
    return jobs


@dataclass(frozen=True)
class TaskView:
    """Where a task stands at one moment."""

    task: PixxelTask
    done: bool
    percent: float

    @property
    def failed(self) -> bool:
        return self.done and self.task.fail is not None

    @property
    def status(self) -> str:
        if not self.done:
            return "running"
        return "failed" if self.failed else "completed"


def percent(timing: Timing, polls: int, elapsed: float, done: bool) -> float:
    """A plausible completion percentage for a running thing."""
    if done:
        return 100.0
    if timing.seconds:
        return round(min(99.0, 100.0 * elapsed / timing.seconds), 1)
    return round(min(99.0, 100.0 * polls / (timing.polls + 1)), 1)


def job_status(model: JobModel, views: list[TaskView], own: TaskView) -> str:
    """The job's status when it stands at `own` and its tasks at `views`."""
    if not (own.done and all(v.done for v in views)):
        return "running"
    failed = model.job.fail is not None or any(v.failed for v in views)
    return "failed" if failed else "completed"


def job_summary(
    model: JobModel, views: list[TaskView], own: TaskView, times: dict[str, float], now: float
) -> dict[str, Any]:
    """A job as List Jobs shows it (`dexter.ListJobsTransformerResponse` items): no tasks.

    `own` is where the job itself stands, apart from its tasks; `times` holds when
    it was `started` and, once over, `finished`.
    """
    status = job_status(model, views, own)
    progress = 100 if status != "running" else int(min(v.percent for v in [own, *views]))
    started = times.get("started", now)
    finished = times.get("finished")
    return {
        "id": model.job.job_id,
        "workflow_id": model.job.workflow_id,
        "status": status,
        "progress": str(progress),
        "cost": 10 * len(views),
        "created_by": "user-emulated",
        "created_at": iso(started),
        "updated_at": iso(now),
        "finished_at": iso(finished) if finished is not None else "",
        "estimated_duration": 60 * len(views),
        "time_taken": f"{int((finished or now) - started)}s",
    }


def job_body(
    model: JobModel, views: list[TaskView], own: TaskView, times: dict[str, float], now: float
) -> dict[str, Any]:
    """The Get Job answer (`dexter.GetJobByIdTransformerResponse`): the summary and details."""
    summary = job_summary(model, views, own, times, now)
    started = times.get("started", now)
    tasks = [_task_body(v, started, times.get("finished"), now) for v in views]
    if summary["status"] == "failed" and not any(v.failed for v in views):
        # The job's own failure is reported where Pixxel reports failures: on a task.
        tasks[0].update(status="failed", err_msg=model.job.fail, failure_type="ALGORITHM")
    return {
        **summary,
        "exec_created_at": iso(started),
        "exec_updated_at": iso(now),
        "spec": {"blocks": [v.task.name or v.task.task_id for v in views]},
        "val_errors": [],
        "tasks": tasks,
    }


def _task_body(
    view: TaskView, started: float, finished: float | None, now: float
) -> dict[str, Any]:
    task = view.task
    ended = iso(finished if finished is not None else now) if view.done else ""
    return {
        "id": task.task_id,
        "name": task.name or task.task_id,
        "status": view.status,
        "state_msg": "" if not view.failed else "task failed",
        "progress": view.percent,
        "estimated_time_duration": 60,
        "time_taken": f"{int(now - started)}s",
        "created_at": iso(started),
        "updated_at": iso(now),
        "finished_at": ended,
        "recv_time": iso(started),
        "send_time": ended,
        "block_inf_start_time": iso(started),
        "block_inf_end_time": ended,
        "depends_on": [],
        "disclaimer": [],
        "block_info": {"id": f"blk-{task.task_id}", "name": task.name or "block", "version": "1.0"},
        "err_msg": task.fail if view.failed and task.fail else "",
        "failure_type": "ALGORITHM" if view.failed else "",
        "inputs": {"aoi": "emulated"},
        "result": {"assets": [f.name for f in task.files]} if view.done else None,
        "info_logs": [],
    }
