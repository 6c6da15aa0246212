"""The field survey review's table: one row per photo (recorded and predicted positions,
distance, confidence, verification, verdict), disagreements flagged, sortable by what each
column means rather than its text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from sciceapp.ui.formatting import (
    format_confidence,
    format_distance,
    format_latlon,
    format_verification,
)
from sciceapp.ui.match_strip import VERIFIED_COLOR
from sciceapp.ui.table_model import Index, RowsTableModel

COLUMNS = ("Photo", "Recorded", "Predicted", "Distance", "Confidence", "Verified", "Verdict")
VERIFIED_COLUMN = COLUMNS.index("Verified")
FLAG_COLOR = QColor("#fde2e1")


STATUS_TEXT = {
    "checked": "",
    "no_gps": "no GPS",
    "no_prediction": "no geotagged match",
    "error": "unreadable",
}


def verdict(row: Any) -> str:
    """What the review says about one ``ReviewRow``."""
    if row.status != "checked":
        note = f": {row.note}" if row.note else ""
        return f"{STATUS_TEXT.get(row.status, row.status)}{note}"
    return "DISAGREES" if row.flagged else "agrees"


def _latlon_text(point: Any, missing: str) -> str:
    return format_latlon(*point) if point is not None else missing


class ReviewTableModel(RowsTableModel):
    COLUMNS = COLUMNS

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.BackgroundRole and row.flagged:
            return FLAG_COLOR
        if role == Qt.ItemDataRole.ForegroundRole and column == VERIFIED_COLUMN and row.verified:
            return VERIFIED_COLOR
        if role == Qt.ItemDataRole.UserRole:  # what sorting compares
            distance = row.distance_m if row.distance_m is not None else float("inf")
            keys = (  # plain numbers and strings: Qt compares those, not Python tuples
                Path(row.path).name,
                row.recorded[0] if row.recorded else float("-inf"),
                row.predicted[0] if row.predicted else float("-inf"),
                distance,
                row.confidence,
                (row.inliers or -1) + (100_000 if row.verified else 0),
                2 if row.flagged else int(row.status == "checked"),
            )
            return keys[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.path
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        texts = (
            Path(row.path).name,
            _latlon_text(row.recorded, "no GPS"),
            _latlon_text(row.predicted, "unknown"),
            format_distance(row.distance_m),
            format_confidence(row.confidence) if row.predicted is not None else "",
            format_verification(row.inliers, row.verified),
            verdict(row),
        )
        return texts[column]
