"""Where each Pixxel job stands, as its status answers report it.

Get Job and List Jobs share this: each answer about a job counts as one poll
(`count_answer`), then the job's state is read after that many polls.  A
listing's status filter judges a job by the status its next answer will report
(`upcoming_status`), which counts and marks nothing, so a job filtered out is
left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from downloader.emulator._pixxel_model import (
    JobModel,
    TaskView,
    job_body,
    job_status,
    job_summary,
    percent,
)
from downloader.emulator._scenario import PixxelTask, Timing
from downloader.emulator._state import Context


class JobStates:
    """Status answers about Pixxel jobs, counted in the context's books."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def count_answer(self, model: JobModel) -> int:
        """Count one status answer about `model`; its number of polls so far."""
        stats = self.ctx.item(model.key)
        stats.job_polls += 1
        return stats.job_polls

    def count_listing(self, model: JobModel) -> int:
        """Count one listing showing `model`: a status answer that is also `listed`."""
        polls = self.count_answer(model)
        self.ctx.item(model.key).listed += 1
        return polls

    def polls(self, model: JobModel) -> int:
        """How many status answers about `model` were counted (marking nothing)."""
        stats = self.ctx.stats.get(model.key)
        return 0 if stats is None else stats.job_polls

    def views(self, model: JobModel, polls: int) -> tuple[list[TaskView], TaskView]:
        """Where each task stands after `polls` status answers, and the job itself."""
        views = [self._view(task, task.key, task.done, polls) for task in model.tasks]
        return views, self._view(model.tasks[0], model.key, model.timing, polls)

    def status(self, model: JobModel, polls: int) -> str:
        """The job's status after `polls` status answers."""
        views, own = self.views(model, polls)
        return job_status(model, views, own)

    def upcoming_status(self, model: JobModel) -> str:
        """The status the next answer about `model` will report; nothing is counted or marked."""
        polls = self.polls(model) + 1
        views = [TaskView(t, self.ctx.peek_done(t.key, t.done, polls), 0.0) for t in model.tasks]
        own = TaskView(model.tasks[0], self.ctx.peek_done(model.key, model.timing, polls), 0.0)
        return job_status(model, views, own)

    def detail(self, model: JobModel, polls: int) -> dict[str, Any]:
        """The Get Job body after `polls` status answers."""
        return job_body(model, *self._state(model, polls))

    def summary(self, model: JobModel, polls: int) -> dict[str, Any]:
        """The List Jobs item after `polls` status answers."""
        return job_summary(model, *self._state(model, polls))

    def _view(self, task: PixxelTask, key: str, timing: Timing, polls: int) -> TaskView:
        now = self.ctx.clock()
        done = self.ctx.is_done(key, timing, polls)
        since = self.ctx.item(key).first_seen or now
        return TaskView(task, done, percent(timing, polls, now - since, done))

    def _state(
        self, model: JobModel, polls: int
    ) -> tuple[list[TaskView], TaskView, dict[str, float], float]:
        views, own = self.views(model, polls)
        stats = self.ctx.item(model.key)
        now = self.ctx.clock()
        times = {"started": stats.first_seen or now}
        finished = [self.ctx.item(t.key).done_at for t in model.tasks] + [stats.done_at]
        if own.done and all(v.done for v in views):
            times["finished"] = max(t for t in finished if t is not None)
        return views, own, times, now


def wanted_statuses(values: Iterable[str]) -> frozenset[str] | None:
    """The lower-cased statuses a `status` filter names (repeated or comma-separated).

    None when it names none: every job is wanted.
    """
    wanted = frozenset(
        part.strip().lower() for value in values for part in value.split(",") if part.strip()
    )
    return wanted or None
