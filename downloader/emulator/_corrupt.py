"""The file host faults of one served file, with a knob's member corruption placed.

`corrupt_member` names a ZIP member, not a byte: where its data lies is known only
once the package is laid out, so the flip is placed here, as the file is served.
"""

from __future__ import annotations

from downloader.emulator._content import Content
from downloader.emulator._filespec import Faults
from downloader.emulator._scenario import Knobs
from downloader.emulator._zip import ZipContent

_ONE_BIT = 0x01


def faults_for(knobs: Knobs, content: Content) -> Faults:
    """`knobs`' faults for a file of `content`, flipping one bit of `corrupt_member`'s
    middle byte on the first response that carries it."""
    faults = knobs.file_faults()
    if knobs.corrupt_member is None or not isinstance(content, ZipContent):
        return faults
    span = content.member_data(knobs.corrupt_member)
    if span is None or span[0] == span[1]:  # not in this file, or no byte to spoil
        return faults
    faults.flip_byte_at = (span[0] + span[1]) // 2
    faults.flip_mask = _ONE_BIT
    faults.flip_times = 1
    return faults
