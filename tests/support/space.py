"""A filesystem's free count for the space guard's tests, told and counted."""

from __future__ import annotations

from pathlib import Path


class Measure:
    """A filesystem's free count, told as often as it is asked and counted."""

    def __init__(self, *free: int) -> None:
        self.free = list(free)
        self.asked = 0

    def __call__(self, _: Path) -> int:
        self.asked += 1
        return self.free[min(self.asked, len(self.free)) - 1]
