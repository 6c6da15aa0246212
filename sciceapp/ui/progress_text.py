"""What a progress bar says besides its percentage: counts and the time left, as in
"1 234 of 5 000 photos, about 3 min left".

The time left is the rate measured since the current phase began (a job's phases, such as
learning a vocabulary and then describing photos, each report their own total), shown only
once the rate rests on some work: a guess after one photo would jump about.
"""

from __future__ import annotations

import time
from collections.abc import Callable

THOUSANDS = "\u00a0"  # "1 234": a space that never breaks the number across lines
MIN_ELAPSED_S = 1.0  # no time left before the phase has run this long


def count_text(n: int) -> str:
    """``1 234``, ``5 000 000``."""
    return f"{int(n):,}".replace(",", THOUSANDS)


def duration_text(seconds: float) -> str:
    """``45 s``, ``3 min``, ``1 h 10 min``."""
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


class ProgressText:
    """Turns one job's ``progress(done, total, message)`` reports into a line of text.

    ``unit`` names what is counted ("photos"); ``clock`` is injectable for tests.
    """

    def __init__(self, unit: str = "photos", clock: Callable[[], float] = time.monotonic):
        self.unit = unit
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """A new job (or phase): forget the rate measured so far."""
        self._phase: tuple[int, float, int] | None = None  # total, start time, done at start
        self._last_done = 0

    def seconds_left(self, done: int, total: int) -> float | None:
        now = self.clock()
        if self._phase is None or self._phase[0] != total or done < self._last_done:
            self._phase = (total, now, done)
        self._last_done = done
        _total, started, first = self._phase
        elapsed = now - started
        if total <= 0 or done <= first or elapsed < MIN_ELAPSED_S:
            return None
        return (total - done) * elapsed / (done - first)

    def text(self, done: int, total: int, message: str = "") -> str:
        """``1 234 of 5 000 photos, 3 skipped, about 3 min left`` (total <= 0: unknown)."""
        unit = f" {self.unit}" if self.unit else ""
        if total > 0:
            counts = f"{count_text(min(done, total))} of {count_text(total)}{unit}"
        else:
            counts = f"{count_text(done)}{unit}" if done > 0 else ""
        left = self.seconds_left(done, total)
        parts = [p for p in (counts, message) if p]
        if left is not None:
            parts.append(f"about {duration_text(left)} left" if left >= 1 else "almost done")
        return ", ".join(parts)
