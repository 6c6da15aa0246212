"""The details pane under the query table: the selected query's whole status, wrapped, so a
failure's reason is never cut off by the Status column's width (its tooltip says it too)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableView

from sciceapp.ui.guard import catch_all
from sciceapp.ui.queries import QueryTableModel

FAILED_COLOUR = "#b00020"


class QueryDetails(QLabel):
    """Follows ``table``'s current row and every change of ``model``."""

    def __init__(self, table: QTableView, model: QueryTableModel) -> None:
        super().__init__()
        self.table = table
        self.model = model
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        table.selectionModel().currentRowChanged.connect(self.refresh)
        for signal in (
            model.dataChanged,
            model.layoutChanged,
            model.modelReset,
            model.rowsRemoved,
        ):
            signal.connect(self.refresh)
        self.refresh()

    @catch_all
    def refresh(self, *_: object) -> None:
        index = self.table.currentIndex()
        rows = self.model.rows
        if not 0 <= index.row() < len(rows):
            self.clear()
            self.hide()
            return
        row = rows[index.row()]
        status = html.escape(row.status_text())
        if row.status_text().startswith("failed"):
            status = f'<span style="color:{FAILED_COLOUR}">{status}</span>'
        self.setText(f"<b>{html.escape(row.name)}</b>: {status}")
        self.setToolTip(row.path)
        self.show()
