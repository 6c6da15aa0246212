"""Progress reporting and cancellation shared by every long job (engine, training, export).

Engine functions take ``progress`` and ``cancel`` arguments and know nothing of Qt or tqdm:
the CLI adapts ``progress`` to tqdm, the GUI to a signal that drives a progress bar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from sciceapp.errors import CancelledError


class ProgressCallback(Protocol):
    def __call__(self, done: int, total: int | None, message: str = "") -> None: ...


def no_progress(done: int, total: int | None, message: str = "") -> None:
    """A progress callback that ignores everything."""


class CancelToken:
    """A thread-safe flag a job checks between steps; ``cancel()`` may be called from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("Cancelled by the user; the work finished before that is kept.")


class TqdmProgress:
    """Adapts the progress callback to a tqdm bar (CLI only). Use as a context manager."""

    def __init__(self, desc: str, unit: str = "it", disable: bool | None = None) -> None:
        import sys

        from tqdm import tqdm

        from sciceapp.terminal import escape, raw

        # The bar's own carriage returns go out as they are; its text is escaped here.
        self._bar = tqdm(
            desc=escape(desc),
            unit=unit,
            total=None,
            disable=disable,
            dynamic_ncols=True,
            file=raw(sys.stderr),
        )

    def __call__(self, done: int, total: int | None, message: str = "") -> None:
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        if message:
            from sciceapp.terminal import escape

            self._bar.set_postfix_str(escape(message), refresh=False)
        self._bar.refresh()

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


ProgressFn = Callable[[int, "int | None", str], None]
