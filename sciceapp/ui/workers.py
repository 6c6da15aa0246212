"""Background jobs: a QRunnable with a companion QObject that carries its signals.

The shape follows superqt/napari workers. A job is a plain function
``fn(*args, progress=..., cancel=..., **kwargs)`` that knows nothing of Qt (engine calls);
the worker runs it on a QThreadPool, forwards its progress as a signal and hands back its
return value, its error message or its cancellation. Nothing raised in a job escapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, Signal

from sciceapp.errors import CancelledError, SciceappError
from sciceapp.progress import CancelToken
from sciceapp.ui.guard import describe
from sciceapp.ui.progress_text import ProgressText

log = logging.getLogger("sciceapp.ui")

UNKNOWN_TOTAL = -1


def show_progress(
    bar: Any, done: int, total: int, message: str, text: ProgressText | None = None
) -> None:
    """A worker's ``progress`` signal on a QProgressBar (busy while the total is unknown),
    with the counts and time left that ``text`` (the job's ``ProgressText``) measures."""
    if total > 0:
        bar.setRange(0, total)
        bar.setValue(done)
    line = text.text(done, total, message) if text is not None else message
    bar.setFormat(f"{line}  %p%" if line else "%p%")


class WorkerSignals(QObject):
    """Emitted from the pool thread; receivers in the GUI thread get them queued."""

    started = Signal()
    progress = Signal(int, int, str)  # done, total (UNKNOWN_TOTAL when unknown), message
    result = Signal(object)
    errored = Signal(str)
    cancelled = Signal(str)
    finished = Signal()


class Worker(QRunnable):
    """Runs ``fn(*args, progress=cb, cancel=token, **kwargs)`` once on a pool thread."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the pool below keeps the Python object alive instead
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.name = name or getattr(fn, "__name__", "job")
        self.cancel_token = CancelToken()
        self.signals = WorkerSignals()
        self.done = False

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def _progress(self, done: int, total: int | None, message: str = "") -> None:
        self.signals.progress.emit(
            int(done), UNKNOWN_TOTAL if total is None else int(total), message
        )

    def run(self) -> None:
        self.signals.started.emit()
        try:
            value = self.fn(
                *self.args, progress=self._progress, cancel=self.cancel_token, **self.kwargs
            )
        except CancelledError as exc:
            log.info("%s cancelled", self.name)
            self.signals.cancelled.emit(str(exc))
        except SciceappError as exc:  # the user's to fix, said in the message: no traceback
            log.warning("%s failed: %s", self.name, exc)
            self.signals.errored.emit(describe(exc))
        except Exception as exc:
            log.warning("%s failed", self.name, exc_info=True)
            self.signals.errored.emit(describe(exc))
        else:
            self.signals.result.emit(value)
        finally:
            self.done = True
            self.signals.finished.emit()


class WorkerPool(QObject):
    """A QThreadPool that keeps its running workers alive and can cancel them all."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._active: set[Worker] = set()
        self.closed = False

    def start(self, worker: Worker) -> Worker:
        """Run ``worker``; connect to its signals before calling this (it may finish at once).

        After ``close`` nothing starts: the worker is returned unstarted.
        """
        if self.closed:
            return worker
        self._active.add(worker)
        worker.signals.finished.connect(lambda: self._active.discard(worker))
        self.pool.start(worker)
        return worker

    @property
    def active(self) -> list[Worker]:
        """Jobs started and not yet returned."""
        return [w for w in list(self._active) if not w.done]

    def cancel_all(self) -> None:
        for worker in list(self._active):
            worker.cancel()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until every job has returned."""
        return self.pool.waitForDone(timeout_ms)

    def close(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every job, wait for them, and deliver their last signals while the widgets
        that receive them still exist; start nothing new from then on."""
        self.closed = True
        self.cancel_all()
        finished = self.wait(timeout_ms)
        QCoreApplication.sendPostedEvents()
        return finished
