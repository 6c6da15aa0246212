"""Runs collection work (list, create, add folders, update, remove) in workers and keeps the
collections panel in step: progress bar while indexing, Cancel, counts afterwards."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from sciceapp.ui import jobs
from sciceapp.ui.collections_panel import CollectionsPanel
from sciceapp.ui.guard import catch_all
from sciceapp.ui.workers import Worker, WorkerPool

log = logging.getLogger("sciceapp.ui")


def describe_report(report: Any) -> str:
    """One line on an ``IndexReport``: what changed and what was skipped."""
    parts = [f"{report.added} added"]
    if report.updated:
        parts.append(f"{report.updated} updated")
    if report.removed:
        parts.append(f"{report.removed} removed")
    if report.skipped:
        parts.append(f"{len(report.skipped)} skipped")
    text = ", ".join(parts)
    return (
        f"Cancelled; kept what was done ({text})."
        if report.cancelled
        else f"Indexing done: {text}."
    )


class IndexingController(QObject):
    """Owns the one indexing job that may run at a time."""

    state_loaded = Signal(object)  # jobs.CollectionsState
    indexing_finished = Signal(object)  # the IndexReport, or None when it failed or was cancelled
    message = Signal(str)  # status-bar text
    failed = Signal(str)  # a message for the user

    def __init__(
        self,
        pool: WorkerPool,
        panel: CollectionsPanel,
        data_dir: Callable[[], Path],
        provider: Callable[[], str] = lambda: "auto",
    ) -> None:
        super().__init__(panel)
        self.pool = pool
        self.panel = panel
        self.data_dir = data_dir
        self.provider = provider
        self.state: jobs.CollectionsState | None = None
        self.job: Worker | None = None
        self.job_collection = ""  # the collection the running job indexes
        panel.cancel_requested.connect(self.cancel)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def busy_text(self, name: str) -> str:
        """Why indexing ``name`` cannot start now (only one indexing job runs at a time)."""
        if self.job_collection == name:
            return (
                f"“{name}” is being indexed already; its progress is shown below the "
                "collections (Cancel stops it, keeping what is done)."
            )
        return (
            f"“{self.job_collection}” is being indexed; wait for it, or cancel it, before "
            f"indexing “{name}”."
        )

    def refresh(self, select: str | None = None, then: Callable[[], None] | None = None) -> Worker:
        """Reload the collections (in a worker); ``then`` runs afterwards, also on failure."""
        worker = Worker(jobs.load_state, self.data_dir(), name="list collections")
        worker.signals.result.connect(lambda state: self._loaded(state, select))
        worker.signals.errored.connect(self.failed)
        if then is not None:
            worker.signals.finished.connect(then)
        return self.pool.start(worker)

    @catch_all
    def _loaded(self, state: jobs.CollectionsState, select: str | None) -> None:
        self.state = state
        self.panel.set_collections(state.summaries, select)
        self.state_loaded.emit(state)

    def names(self) -> list[str]:
        return [s.name for s in self.state.summaries] if self.state else []

    # -- indexing ---------------------------------------------------------------------------
    def create(
        self,
        name: str,
        folders: list[str],
        model_path: str,
        index_kind: str = "auto",
        local_features: bool = True,
    ) -> Worker | None:
        """Create ``name`` bound to ``model_path`` with ``index_kind`` (and local features or
        not) and index ``folders``."""
        return self._index(
            name,
            jobs.index_folders,
            name,
            folders,
            model_path,
            self.provider(),
            index_kind,
            local_features,
            verb="Creating",
        )

    def descriptor_dim(self, model_path: str) -> int | None:
        """The descriptor size of ``model_path`` if it is one of the loaded usable models (no
        file is read here); None otherwise."""
        if not model_path or self.state is None:
            return None
        target = Path(model_path)
        for model in self.state.models:
            if model.info is not None and Path(model.path) == target:
                return int(model.info.descriptor_dim)
        return None

    def add(self, name: str, folders: list[str]) -> Worker | None:
        return self._index(
            name, jobs.index_folders, name, folders, None, self.provider(), verb="Adding to"
        )

    def update(self, name: str) -> Worker | None:
        return self._index(name, jobs.update_collection, name, self.provider(), verb="Updating")

    def _index(self, name: str, fn: Callable[..., Any], *args: Any, verb: str) -> Worker | None:
        if self.busy:
            self.failed.emit(self.busy_text(name))
            return None
        worker = Worker(fn, self.data_dir(), *args, name=f"index {name}")
        self.job = worker
        self.job_collection = name
        worker.signals.progress.connect(self.panel.set_progress)
        worker.signals.result.connect(lambda report: self._indexed(name, report))
        worker.signals.cancelled.connect(lambda text: self._stopped(name, text))
        worker.signals.errored.connect(lambda text: self._stopped(name, text, failed=True))
        self.panel.set_busy(f"{verb} “{name}”…")
        return self.pool.start(worker)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.panel.cancel_button.setEnabled(False)
            self.panel.progress_label.setText("Cancelling; keeping what is done…")

    @catch_all
    def _indexed(self, name: str, report: Any) -> None:
        self.job = None
        text = describe_report(report)
        self.panel.set_idle(text)
        self.message.emit(f"{name}: {text}")
        self.refresh(select=name, then=lambda: self.indexing_finished.emit(report))

    @catch_all
    def _stopped(self, name: str, text: str, failed: bool = False) -> None:
        self.job = None
        self.panel.set_idle(text)
        if failed:
            self.failed.emit(f"Indexing “{name}” failed: {text}")
        else:
            self.message.emit(f"{name}: {text}")
        self.refresh(select=name, then=lambda: self.indexing_finished.emit(None))

    # -- removing -----------------------------------------------------------------------------
    def remove(self, name: str) -> Worker | None:
        if self.busy:
            self.failed.emit(
                "Wait for indexing to finish (or cancel it) before removing a collection."
            )
            return None
        worker = Worker(jobs.remove_collection, self.data_dir(), name, name=f"remove {name}")
        worker.signals.result.connect(
            lambda _n: (self.message.emit(f"Removed “{name}”."), self.refresh())
        )
        worker.signals.errored.connect(self.failed)
        return self.pool.start(worker)
