"""What tells a batch run (`once`) from the daemon (`run`): one value, not flags."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Policy:
    """How the scheduler's parts behave for one kind of run."""

    until_done: bool
    """End once every active item is terminal (else: work until stopped)."""
    contain_errors: bool
    """A store or source error is logged and tried again later (else: it ends the run)."""
    tends_sources: bool
    """List the sources whenever they are due (else: once, before the first claim)."""


ONCE = Policy(until_done=True, contain_errors=False, tends_sources=False)
"""A batch: the sources listed once, an error ends it, it ends when all is done."""
RUN = Policy(until_done=False, contain_errors=True, tends_sources=True)
"""The daemon: sources tended, errors contained, working until stopped."""
