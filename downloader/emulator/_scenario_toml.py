"""Reading a scenario from TOML, and the checks every scenario must pass. Pure.

The format is described in `_scenario`.  Every problem found is collected and
raised together as one `ConfigError` naming the file and the key
(`pixxel.job[0].files[1].size`).
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from downloader.emulator._filespec import Faults
from downloader.emulator._scenario import (
    AlteryxJob,
    AlteryxMessage,
    AlteryxOutput,
    DownloadKind,
    FileEntry,
    Item,
    Knobs,
    Malformed,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
    Settings,
    Timing,
)
from downloader.emulator._scenario_reader import TableReader
from downloader.emulator._zip import stored_zip_size
from downloader.errors import ConfigError, ConfigProblem

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*\Z")
T = TypeVar("T")
_ACCEPTS: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (int, float),
    bool: (bool,),
    str: (str,),
}


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


def check_scenario(scenario: Scenario) -> list[tuple[str, str]]:
    """What is wrong with a scenario however it was built, as (key, message) pairs."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    settings = scenario.settings
    if settings.scale_api_version not in ("v6", "legacy"):
        found.append(("emulator.scale_api_version", 'must be "v6" or "legacy"'))
    if settings.page_size < 1:
        found.append(("emulator.page_size", "must be at least 1"))
    for item in scenario.items():
        if item.key in seen:
            found.append((item.key, "the same item appears twice"))
        seen.add(item.key)
        found += [(item.key, message) for message in _item_problems(item)]
    return found


def _item_problems(item: Item) -> list[str]:
    found = [
        f"id {part!r} must match {_SAFE_ID.pattern}"
        for part in _identity(item)
        if not _SAFE_ID.match(part)
    ]
    found += _fault_problems(item.knobs.faults)
    if item.knobs.throttle < 0:
        found.append("throttle must not be negative")
    names = (
        [o.id for o in item.outputs]
        if isinstance(item, AlteryxJob)
        else [f.name for f in item.files]
    )
    if len(set(names)) != len(names):
        found.append("file names (output ids) must be unique within an item")
    if any(not n or "\0" in n for n in names):
        found.append("file names must be non-empty and contain no NUL")
    if isinstance(item, AlteryxJob) and any(not o.formats for o in item.outputs):
        found.append("every output needs at least one format")
    if isinstance(item, ScaleJob):
        for f in item.files:
            found += _zip_problems(f)
    return found


def _zip_problems(entry: FileEntry) -> list[str]:
    if not entry.members:
        return []
    found = []
    names = [m.name for m in entry.members]
    if len(set(names)) != len(names) or any(not n or "\0" in n for n in names):
        found.append(f"the members of {entry.name} need unique, non-empty names without NUL")
    layout = stored_zip_size([(m.name, m.size) for m in entry.members])
    if entry.size != layout:
        found.append(f"{entry.name} is a ZIP of {layout} bytes, not {entry.size}")
    return found


def _fault_problems(faults: Mapping[str, Any]) -> list[str]:
    """Unknown fault names and values of the wrong type (caught here, not mid-request)."""
    hints = typing.get_type_hints(Faults)
    found = []
    for name, value in faults.items():
        if name not in hints:
            found.append(f"unknown fault {name}")
        elif not _fits(value, hints[name]):
            found.append(f"fault {name} has the wrong type")
    return found


def _fits(value: Any, hint: Any) -> bool:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None):
            if value is None:
                return True
        elif typing.get_origin(option) is list:
            (inner,) = typing.get_args(option)
            if isinstance(value, list) and all(_fits(v, inner) for v in value):
                return True
        # TOML booleans are Python ints too: only a bool knob takes one.
        elif isinstance(value, _ACCEPTS.get(option, ())) and (
            option is bool or not isinstance(value, bool)
        ):
            return True
    return False


def _identity(item: Item) -> tuple[str, ...]:
    """The ids naming an item, each of which becomes a URL path segment."""
    if isinstance(item, PixxelJob):
        return (item.workflow_id, item.job_id)
    if isinstance(item, PixxelTask):
        return (item.workflow_id, item.job_id, item.task_id)
    return (str(item.id),)


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
    )
    r.finish()
    return settings


def _timing(r: TableReader, what: str) -> Timing:
    return Timing(r.integer(f"polls_until_{what}", 0), r.opt_number(f"seconds_until_{what}"))


def _knobs(r: TableReader) -> Knobs:
    malformed = r.opt_text("malformed")
    mode: Malformed | None = None
    if malformed is not None:
        try:
            mode = Malformed(malformed)
        except ValueError:
            choices = ", ".join(m.value for m in Malformed)
            r.problem("malformed", f"must be one of {choices}")
    return Knobs(
        throttle=r.integer("throttle", 0),
        retry_after=r.text("retry_after", "1"),
        malformed=mode,
        malformed_times=r.integer("malformed_times", -1),
        url_lifetime=r.opt_number("url_lifetime"),
        faults=r.table("faults").rest(),
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
    download = PixxelDownload(
        kind=kind,
        id=r.text("id"),
        files=_files(r),
        ready=_timing(r, "ready"),
        fail=r.opt_text("fail"),
        knobs=_knobs(r),
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
    )
    r.finish()
    return job
