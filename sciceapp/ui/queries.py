"""The query list: one row per dropped photo with its thumbnail, prediction, confidence and error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QIcon

from sciceapp.ui.formatting import (
    format_confidence,
    format_distance,
    format_latlon,
    format_verification,
)
from sciceapp.ui.table_model import Index, RowsTableModel
from sciceapp.ui.thumbnails import ThumbnailCache

COLUMNS = ("Photo", "Predicted location", "Place", "Confidence", "Error", "Status", "Verified")
PHOTO, PREDICTED, PLACE, CONFIDENCE, ERROR, STATUS, VERIFIED = range(len(COLUMNS))
IN_COLLECTION = "in this collection (left out of its matches)"


@dataclass
class QueryRow:
    """A query photo and, once located, its ``LocateResult``."""

    path: str
    status: str = "waiting"
    result: Any | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    def status_text(self) -> str:
        result = self.result
        if result is None:
            return self.status
        if result.error:
            return f"failed: {result.error}"
        note = f"; {IN_COLLECTION}" if getattr(result, "in_collection", False) else ""
        if result.predicted is None:
            return "no geotagged match" + note
        return "located" + note


def sort_key(row: QueryRow, column: int) -> tuple:
    """What sorting compares: numbers as numbers, missing values last."""
    result = row.result if row.result is not None and not row.result.error else None
    if column == CONFIDENCE and result is not None and result.predicted is not None:
        return (0, -result.confidence)  # most confident first when ascending
    if column == ERROR and result is not None and result.error_m is not None:
        return (0, result.error_m)
    if column == PREDICTED and result is not None and result.predicted is not None:
        return (0, result.predicted)
    if column == PLACE and result is not None and result.place:
        return (0, result.place)
    if column in (PHOTO, STATUS):
        return (0, row.name.lower() if column == PHOTO else row.status_text())
    return (1, row.name.lower())


def verified_text(result: Any) -> str:
    """Whether the prediction rests on a verified match, with the best match's inliers."""
    checked = [m for m in result.matches if m.inliers is not None]
    if not checked:
        return ""
    best = max(checked, key=lambda m: (m.verified, m.inliers))
    return format_verification(best.inliers, result.verified and best.verified)


class QueryTableModel(RowsTableModel):
    COLUMNS = COLUMNS

    def __init__(self, thumbnails: ThumbnailCache, parent: Any = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        thumbnails.ready.connect(self._thumbnails_ready)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == PHOTO:
            pixmap = self.thumbnails.pixmap(row.path)
            return QIcon(pixmap) if pixmap is not None else None  # an icon scales to the view
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.path if column == PHOTO else row.status_text()
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def _text(self, row: QueryRow, column: int) -> str:
        result = row.result
        if column == PHOTO:
            return row.name
        if column == STATUS:
            return row.status_text()
        if result is None or result.error:
            return ""
        if column == PREDICTED:
            return format_latlon(*result.predicted) if result.predicted else "unknown"
        if column == PLACE:
            return (result.place or "") if result.predicted else ""
        if column == CONFIDENCE:
            return format_confidence(result.confidence) if result.predicted else ""
        if column == ERROR:
            return format_distance(result.error_m) if result.query_gps else "no GPS in photo"
        if column == VERIFIED:
            return verified_text(result)
        return ""

    # -- changes ----------------------------------------------------------------------------
    def add_paths(self, paths: list[str]) -> list[QueryRow]:
        """Append queries (waiting); returns their rows. Rows are objects, not numbers: the
        user may sort or remove queries while a job for them runs."""
        first = len(self.rows)
        added = [QueryRow(str(p)) for p in paths]
        self.beginInsertRows(QModelIndex(), first, first + len(paths) - 1)
        self.rows += added
        self.endInsertRows()
        self.thumbnails.request([str(p) for p in paths])
        return added

    def row_of(self, row: QueryRow) -> int:
        """Where ``row`` is now (-1 once removed)."""
        return next((i for i, r in enumerate(self.rows) if r is row), -1)

    def set_status(self, rows: list[QueryRow], status: str) -> None:
        for row in rows:
            row.status = status
            self._changed(self.row_of(row))

    def set_results(self, rows: list[QueryRow], results: list[Any]) -> None:
        for row, result in zip(rows, results, strict=True):
            row.result = result
            row.status = "done"
            self._changed(self.row_of(row))

    def remove(self, r: int) -> None:
        """Remove the query in row ``r`` (its job, if any, still finishes and is ignored)."""
        self.beginRemoveRows(QModelIndex(), r, r)
        del self.rows[r]
        self.endRemoveRows()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by a column (Qt calls this when a header is clicked; -1: keep the order)."""
        if not 0 <= column < len(COLUMNS):
            return
        self.layoutAboutToBeChanged.emit()
        self.rows.sort(key=lambda row: sort_key(row, column))
        if order == Qt.SortOrder.DescendingOrder:
            self.rows.reverse()
        self.layoutChanged.emit()

    def clear(self) -> None:
        self.set_rows([])

    def _changed(self, r: int) -> None:
        if r < 0:
            return
        self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))

    def _thumbnails_ready(self, paths: list[str]) -> None:
        wanted = set(paths)
        for r, row in enumerate(self.rows):
            if row.path in wanted:
                self.dataChanged.emit(self.index(r, PHOTO), self.index(r, PHOTO))
