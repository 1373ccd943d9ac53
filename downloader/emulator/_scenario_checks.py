"""The checks every scenario must pass, however it was built (TOML or code). Pure.

`check_scenario` answers (key, message) pairs; `_scenario_toml` reports them with
the reader's own problems, `Emulator` refuses a scenario that has any.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from downloader.emulator._filespec import Faults
from downloader.emulator._refusals import ERROR_BODIES, EXPIRY_ANSWERS
from downloader.emulator._scenario import (
    AlteryxJob,
    FileEntry,
    Item,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
)
from downloader.emulator._zip import stored_zip_size

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*\Z")
# faults whose value is one of a few words
_FAULT_WORDS = {"expiry_answer": EXPIRY_ANSWERS, "error_body": ERROR_BODIES}

_ACCEPTS: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (int, float),
    bool: (bool,),
    str: (str,),
}


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
    found += _corrupt_member_problems(item)
    return found


def _corrupt_member_problems(item: Item) -> list[str]:
    name = item.knobs.corrupt_member
    if name is None:
        return []
    if isinstance(item, AlteryxJob):
        return ["corrupt_member needs a ZIP: Alteryx outputs are plain files"]
    if isinstance(item, ScaleJob):
        members = {m.name for f in item.files for m in f.members}
    else:
        members = {f.name for f in item.files}
    if name not in members:
        return [f"corrupt_member {name!r} is no member of the item's ZIP"]
    return []


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
        elif name in _FAULT_WORDS and value is not None and value not in _FAULT_WORDS[name]:
            found.append(f"fault {name} must be one of {', '.join(_FAULT_WORDS[name])}")
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
