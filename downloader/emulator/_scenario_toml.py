"""Reading a scenario from TOML. Pure.

The format is described in `_scenario`.  Every problem found, by the reader or by
the checks every scenario must pass (`_scenario_checks`), is collected and raised
together as one `ConfigError` naming the file and the key
(`pixxel.job[0].files[1].size`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from downloader.emulator._scenario import (
    AlteryxJob,
    AlteryxMessage,
    AlteryxOutput,
    DownloadKind,
    FileEntry,
    Knobs,
    Malformed,
    OrderItemSpec,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
    Settings,
    Timing,
)
from downloader.emulator._scenario_checks import check_scenario
from downloader.emulator._scenario_reader import TableReader
from downloader.emulator._zip import stored_zip_size
from downloader.errors import ConfigError, ConfigProblem

T = TypeVar("T")

MESSAGES_ANSWERS = ("array", "object", "forbidden")


def load_scenario(path: Path) -> Scenario:
    """Read and check the scenario file at `path`."""
    return parse_scenario(path.read_text(encoding="utf-8"), source=str(path))


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Parse scenario TOML; raises `ConfigError` listing every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(source, "", f"not valid TOML: {exc}")]) from None
    top = TableReader(source, document, "")
    settings = _settings(top.table("emulator"))
    pixxel, scale, alteryx = top.table("pixxel"), top.table("scale"), top.table("alteryx")
    scenario = Scenario(
        settings=settings,
        pixxel_jobs=tuple(_each(pixxel, "job", _pixxel_job)),
        pixxel_tasks=tuple(_each(pixxel, "task", _pixxel_task)),
        pixxel_downloads=(
            *_each(pixxel, "catalog", lambda r: _pixxel_download(r, DownloadKind.CATALOG)),
            *_each(pixxel, "order_item", lambda r: _pixxel_download(r, DownloadKind.ORDER_ITEM)),
        ),
        scale_jobs=tuple(_each(scale, "job", _scale_job)),
        alteryx_jobs=tuple(_each(alteryx, "job", _alteryx_job)),
    )
    for reader in (pixxel, scale, alteryx):
        reader.finish()
    top.finish()
    problems = top.problems + [
        ConfigProblem(source, key, message) for key, message in check_scenario(scenario)
    ]
    if problems:
        raise ConfigError(problems)
    return scenario


def _each(reader: TableReader, key: str, build: Callable[[TableReader], T]) -> list[T]:
    return [build(entry) for entry in reader.array(key)]


def _settings(r: TableReader) -> Settings:
    d = Settings()
    settings = Settings(
        seed=r.integer("seed", d.seed),
        pixxel_api_key=r.text("pixxel_api_key", d.pixxel_api_key),
        scale_token=r.opt_text("scale_token"),
        alteryx_client_id=r.text("alteryx_client_id", d.alteryx_client_id),
        alteryx_client_secret=r.text("alteryx_client_secret", d.alteryx_client_secret),
        token_lifetime=r.number("token_lifetime", d.token_lifetime),
        url_lifetime=r.number("url_lifetime", d.url_lifetime),
        page_size=r.integer("page_size", d.page_size),
        scale_api_version=r.text("scale_api_version", d.scale_api_version),
        job_lists=r.flag("job_lists", d.job_lists),
        output_redirect_host=r.opt_text("output_redirect_host"),
        token_line_break=r.flag("token_line_break", False),
        scale_next_origin=r.opt_text("scale_next_origin"),
        job_list_malformed=_malformed(r, "job_list_malformed"),
    )
    r.finish()
    return settings


def _timing(r: TableReader, what: str) -> Timing:
    return Timing(r.integer(f"polls_until_{what}", 0), r.opt_number(f"seconds_until_{what}"))


def _malformed(r: TableReader, key: str) -> Malformed | None:
    text = r.opt_text(key)
    if text is None:
        return None
    try:
        return Malformed(text)
    except ValueError:
        r.problem(key, f"must be one of {', '.join(m.value for m in Malformed)}")
        return None


def _knobs(r: TableReader) -> Knobs:
    return Knobs(
        throttle=r.integer("throttle", 0),
        retry_after=r.text("retry_after", "1"),
        malformed=_malformed(r, "malformed"),
        malformed_times=r.integer("malformed_times", -1),
        url_lifetime=r.opt_number("url_lifetime"),
        faults=r.table("faults").rest(),
        corrupt_member=r.opt_text("corrupt_member"),
    )


def _files(r: TableReader, *, zips: bool = False) -> tuple[FileEntry, ...]:
    """The `files` of an item; with `zips`, a file may list `members` instead of a size."""
    files = []
    for f in r.array("files"):
        members = _members(f) if zips else ()
        files.append(
            FileEntry(
                name=f.text("name"),
                size=stored_zip_size([(m.name, m.size) for m in members])
                if members
                else f.size("size"),
                media_type=f.text("media_type", "application/octet-stream"),
                output=f.text("output", "output_file"),
                members=members,
            )
        )
        f.finish()
    return tuple(files)


def _members(f: TableReader) -> tuple[FileEntry, ...]:
    """The generated files a ZIP file holds (`name` and `size` each)."""
    members = []
    for m in f.array("members"):
        members.append(FileEntry(name=m.text("name"), size=m.size("size")))
        m.finish()
    if f.has("members") and not members:
        f.problem("members", "must list at least one file")
    if members and f.has("size"):
        f.problem("size", "a ZIP of members has the size of its members; give one or the other")
        f.size("size")  # read, so it is not reported as unknown too
    return tuple(members)


def _pixxel_job(r: TableReader) -> PixxelJob:
    job = PixxelJob(
        workflow_id=r.text("workflow_id"),
        job_id=r.text("job_id"),
        files=_files(r),
        done=_timing(r, "done"),
        ready=_timing(r, "ready"),
        fail=r.opt_text("fail"),
        knobs=_knobs(r),
    )
    r.finish()
    return job


def _pixxel_task(r: TableReader) -> PixxelTask:
    task = PixxelTask(
        workflow_id=r.text("workflow_id"),
        job_id=r.text("job_id"),
        task_id=r.text("task_id"),
        name=r.text("name", ""),
        files=_files(r),
        done=_timing(r, "done"),
        ready=_timing(r, "ready"),
        fail=r.opt_text("fail"),
        knobs=_knobs(r),
    )
    r.finish()
    return task


def _pixxel_download(r: TableReader, kind: DownloadKind) -> PixxelDownload:
    order = OrderItemSpec()
    if kind is DownloadKind.ORDER_ITEM:
        case = r.text("status_case", "upper")
        if case not in ("upper", "lower", "title"):
            r.problem("status_case", "must be one of upper, lower, title")
        order = OrderItemSpec(
            done=_timing(r, "done"),
            outcome=r.opt_text("outcome"),
            task_outcome=r.opt_text("task_outcome"),
            status_case=case,
            refuse_downloads=r.integer("refuse_downloads", 0),
        )
    download = PixxelDownload(
        kind=kind,
        id=r.text("id"),
        files=_files(r),
        ready=_timing(r, "ready"),
        fail=r.opt_text("fail"),
        knobs=_knobs(r),
        geometry=r.opt_geometry("geometry"),
        acquired=r.opt_datetime("acquired"),
        order=order,
    )
    r.finish()
    return download


def _scale_job(r: TableReader) -> ScaleJob:
    job = ScaleJob(
        id=r.integer("id"),
        files=_files(r, zips=True),
        done=_timing(r, "done"),
        fail=r.opt_text("fail"),
        cancel=r.flag("cancel", False),
        null_url=r.flag("null_url", False),
        knobs=_knobs(r),
    )
    r.finish()
    return job


def _alteryx_job(r: TableReader) -> AlteryxJob:
    outputs = []
    for o in r.array("outputs"):
        formats = tuple(o.text_list("formats", ["Raw"]))
        outputs.append(AlteryxOutput(o.text("id"), o.text("file_name"), o.size("size"), formats))
        o.finish()
    messages = []
    for m in r.array("messages"):
        messages.append(
            AlteryxMessage(m.integer("status", 1), m.text("text"), m.integer("tool_id", 0))
        )
        m.finish()
    job = AlteryxJob(
        id=r.text("id"),
        outputs=tuple(outputs),
        done=_timing(r, "done"),
        disposition=r.text("disposition", "Success"),
        fail=r.opt_text("fail"),
        cancel=r.flag("cancel", False),
        messages=tuple(messages),
        app_id=r.text("app_id", "app-1"),
        knobs=_knobs(r),
        messages_answer=r.text("messages_answer", "array"),
    )
    if job.messages_answer not in MESSAGES_ANSWERS:
        r.problem("messages_answer", f"must be one of {', '.join(MESSAGES_ANSWERS)}")
    r.finish()
    return job
