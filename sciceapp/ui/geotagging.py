"""Writing locations from the window: confirm, write in a worker, undo (Edit > Undo, Ctrl+Z),
and the history list. One controller per main window; the review window, the map's marker
drag and the GPX dialog all write through it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sciceapp.ui import geotag_jobs
from sciceapp.ui.dialogs import open_dialog
from sciceapp.ui.geotag_confirm import ConfirmWriteDialog
from sciceapp.ui.guard import catch_all
from sciceapp.ui.workers import Worker

MARKER_SOURCE = "sciceapp: placed by hand on the map"


class GeotagController(QObject):
    """``changed`` follows every finished write or undo (the history may have changed);
    ``photos_changed(paths)`` names the photos whose location was written or restored, for
    the views that show their position to read it again."""

    changed = Signal()
    photos_changed = Signal(list)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.confirm_dialog: ConfirmWriteDialog | None = None
        self.last_report: Any = None
        self.undo_action = QAction("&Undo location change", window)
        self.undo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        self.undo_action.triggered.connect(catch_all(lambda _c=False: self.undo()))
        self.history_action = QAction("Location &history…", window)
        self.history_action.triggered.connect(catch_all(lambda _c=False: self.show_history()))
        self.gpx_action = QAction("&Geotag from GPX track…", window)
        self.gpx_action.setShortcut(QKeySequence("Ctrl+G"))
        self.gpx_action.triggered.connect(catch_all(lambda _c=False: self.open_gpx()))
        menu = window.menuBar().addMenu("&Edit")
        for action in (self.undo_action, self.history_action, self.gpx_action):
            window.addAction(action)
            menu.addAction(action)

    # -- writing -----------------------------------------------------------------------------
    def confirm_and_write(
        self,
        requests: list[Any],
        summary: str,
        left: list[tuple[str, str]] | None = None,
        what: str = "the location",
        parent: QWidget | None = None,
    ) -> ConfirmWriteDialog:
        """Ask first (naming the files and where they are written); write on confirmation."""
        dialog = open_dialog(
            ConfirmWriteDialog, parent or self.window, requests, self.window.settings.geotag_sidecar,
            left, what,
        )  # fmt: skip
        dialog.confirmed.connect(catch_all(lambda sidecar: self._write(requests, summary, sidecar)))
        self.confirm_dialog = dialog
        return dialog

    def write_marker_position(self, photo: str, lat: float, lon: float) -> ConfirmWriteDialog:
        """A photo's marker was dragged to ``lat, lon`` on the map."""
        from sciceapp.engine.geotag.tags import GeoTag
        from sciceapp.engine.geotag.writer import WriteRequest

        request = WriteRequest(Path(photo), GeoTag(lat, lon, None, MARKER_SOURCE))
        what = f"the position {lat:.6f}, {lon:.6f} (where its marker was dropped)"
        return self.confirm_and_write([request], f"moved {Path(photo).name} on the map", what=what)

    def _write(self, requests: list[Any], summary: str, sidecar: str) -> Worker:
        self.window.settings.geotag_sidecar = sidecar  # the choice is remembered
        chosen = [dataclasses.replace(r, sidecar=sidecar or None) for r in requests]
        worker = Worker(
            geotag_jobs.write_locations, self.window.data_dir, chosen, summary, name="geotag"
        )
        worker.signals.result.connect(self._written)
        worker.signals.errored.connect(self.window.show_error)
        worker.signals.finished.connect(self.changed.emit)
        self.window.statusBar().showMessage(f"Writing the location into {len(chosen)} file(s)…")
        return self.window.pool.start(worker)

    @catch_all
    def _written(self, report: Any) -> None:
        self.last_report = report
        written = len(report.written)
        if report.written:
            self.photos_changed.emit(sorted({o.photo for o in report.written}))
        message = f"Wrote the location into {written} file(s); Ctrl+Z undoes it."
        if report.failed:
            details = "\n".join(f"{Path(o.photo).name}: {o.error}" for o in report.failed)
            self.window.show_error(f"{len(report.failed)} file(s) were not changed:\n{details}")
        self.window.statusBar().showMessage(message, 10_000)

    def reread(self, results: list[Any], done: Any) -> Worker:
        """Read the positions of the ``results``' photos again in a worker (after a write or
        an undo), then call ``done(fresh_results)`` in the GUI thread."""
        worker = Worker(geotag_jobs.reread_positions, results, name="re-read positions")
        worker.signals.result.connect(catch_all(done))
        worker.signals.errored.connect(self.window.show_error)
        return self.window.pool.start(worker)

    # -- undo and history ----------------------------------------------------------------------
    def undo(self, count: int | None = 1) -> Worker:
        worker = Worker(geotag_jobs.undo_changes, self.window.data_dir, count, name="undo")
        worker.signals.result.connect(self._undone)
        worker.signals.errored.connect(self.window.show_error)
        worker.signals.finished.connect(self.changed.emit)
        return self.window.pool.start(worker)

    @catch_all
    def _undone(self, outcomes: list[Any]) -> None:
        if not outcomes:
            self.window.statusBar().showMessage("Nothing to undo.", 5000)
            return
        failed = [o for o in outcomes if not o.written]
        restored = len(outcomes) - len(failed)
        if restored:
            self.photos_changed.emit(sorted({o.photo for o in outcomes if o.written}))
        self.window.statusBar().showMessage(f"Restored {restored} file(s).", 10_000)
        if failed:
            details = "\n".join(f"{Path(o.target).name}: {o.error}" for o in failed)
            self.window.show_error(f"{len(failed)} file(s) could not be restored:\n{details}")

    def show_history(self) -> HistoryDialog:
        return open_dialog(HistoryDialog, self, modal=False)

    def open_gpx(self) -> Any:
        from sciceapp.ui.gpx_dialog import GpxDialog

        return open_dialog(GpxDialog, self, modal=False)


class HistoryDialog(QDialog):
    """Every change sciceapp made to photos, newest first, with its files; undo from here."""

    def __init__(self, controller: GeotagController) -> None:
        super().__init__(controller.window)
        self.controller = controller
        self.setWindowTitle("Location history")
        self.resize(760, 420)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Change", "State", "File"])
        self.status = QLabel("Loading…")
        self.undo_button = QPushButton("Undo last change")
        self.undo_button.clicked.connect(catch_all(lambda: controller.undo(1)))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.undo_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        controller.changed.connect(self.reload)
        self.reload()

    @catch_all
    def reload(self) -> Worker:
        window = self.controller.window
        worker = Worker(geotag_jobs.load_history, window.data_dir, name="history")
        worker.signals.result.connect(self._show)
        worker.signals.errored.connect(window.show_error)
        return window.pool.start(worker)

    @catch_all
    def _show(self, changes: list[Any]) -> None:
        self.tree.clear()
        for change in changes:
            state = f"undone {change.undone}" if change.undone else "in effect"
            item = QTreeWidgetItem([f"{change.id}: {change.summary}", state, change.created])
            for write in change.writes:
                QTreeWidgetItem(item, ["", write.state, write.target]).setToolTip(
                    2, write.note or write.source
                )
            self.tree.addTopLevelItem(item)
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)
        in_effect = sum(1 for c in changes if c.in_effect)
        self.status.setText(
            f"{len(changes)} change(s), {in_effect} in effect."
            if changes
            else "sciceapp has not written any photo yet."
        )
        self.undo_button.setEnabled(in_effect > 0)
