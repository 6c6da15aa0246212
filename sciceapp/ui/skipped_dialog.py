"""The photos a collection skipped, each with its reason."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from sciceapp.ui import jobs
from sciceapp.ui.dialogs import open_dialog
from sciceapp.ui.guard import catch_all
from sciceapp.ui.workers import Worker


class SkippedDialog(QDialog):
    def __init__(self, window: Any, name: str) -> None:
        super().__init__(window)
        self.setWindowTitle(f"Skipped photos in “{name}”")
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Photo", "Why it was skipped"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(760, 420)
        self.worker = Worker(jobs.skipped_photos, window.data_dir, name, name="skipped photos")
        self.worker.signals.result.connect(self._fill)
        self.worker.signals.errored.connect(window.show_error)
        window.pool.start(self.worker)

    @classmethod
    def show_for(cls, window: Any, name: str) -> SkippedDialog:
        return open_dialog(cls, window, name)

    @catch_all
    def _fill(self, records: list[Any]) -> None:
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(records))
        for row, record in enumerate(records):
            self.table.setItem(row, 0, QTableWidgetItem(str(record.path)))
            self.table.setItem(row, 1, QTableWidgetItem(record.skip_reason or ""))
        self.table.setSortingEnabled(True)
