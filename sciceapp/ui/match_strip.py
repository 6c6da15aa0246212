"""The strip of a query's top-K matches: thumbnail, similarity, verification (a badge and the
inliers), distance from the prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from sciceapp.ui.formatting import format_distance, format_verification
from sciceapp.ui.guard import catch_all
from sciceapp.ui.thumbnails import ThumbnailCache

ICON_PX = 120
VERIFIED_COLOR = QColor("#2b8a3e")


def marker_id(match: Any) -> str:
    """The id the map gives a reference photo's marker."""
    return str(match.photo_id)


def match_caption(rank: int, match: Any, predicted: tuple[float, float] | None) -> str:
    from sciceapp.engine.geo import haversine_m

    lines = [f"#{rank}  similarity {match.score:.3f}"]
    verification = format_verification(match.inliers, match.verified)
    if verification:
        lines.append(verification)
    if match.lat is None or match.lon is None:
        lines.append("no GPS")
    elif predicted is not None:
        lines.append(
            f"{format_distance(haversine_m(predicted[0], predicted[1], match.lat, match.lon))} from prediction"
        )
    place = getattr(match, "place", None)
    if place:
        lines.append(place.split(",")[0])  # the town; the tooltip has all of it
    return "\n".join(lines)


class MatchStrip(QListWidget):
    """Emits ``match_selected(marker_id)`` when the user picks a match, and
    ``explain_requested(row)`` for "Why this match?" on a double click (the context menu's
    entry is ``why_match.why_this_match_entry``)."""

    match_selected = Signal(str)
    explain_requested = Signal(int)

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(QSize(ICON_PX, ICON_PX))
        self.setGridSize(QSize(ICON_PX + 40, ICON_PX + 52))
        self.setWordWrap(True)
        self.setFixedHeight(ICON_PX + 64)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.matches: list[Any] = []
        self.currentItemChanged.connect(self._on_current)
        self.itemDoubleClicked.connect(lambda item: self.explain_requested.emit(self.row(item)))
        thumbnails.ready.connect(self._refresh_icons)

    def show_matches(self, result: Any | None) -> None:
        self.blockSignals(True)
        self.clear()
        self.matches = list(result.matches) if result is not None and not result.error else []
        predicted = result.predicted if result is not None else None
        for rank, match in enumerate(self.matches, start=1):
            item = QListWidgetItem(match_caption(rank, match, predicted))
            item.setData(Qt.ItemDataRole.UserRole, marker_id(match))
            place = getattr(match, "place", None)
            where = f"{match.path}\n{place}" if place else str(match.path)
            item.setToolTip(f"{where}\nDouble click: why this match?")
            if match.verified:
                item.setForeground(VERIFIED_COLOR)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
        self.blockSignals(False)
        self.thumbnails.request([str(m.path) for m in self.matches])
        self._refresh_icons()

    def select_marker(self, marker: str) -> bool:
        """Select the match shown by a map marker (without echoing it back to the map)."""
        for row in range(self.count()):
            if self.item(row).data(Qt.ItemDataRole.UserRole) == marker:
                self.blockSignals(True)
                self.setCurrentRow(row)
                self.blockSignals(False)
                self.scrollToItem(self.item(row))
                return True
        return False

    def current_match(self) -> Any | None:
        row = self.currentRow()
        return self.matches[row] if 0 <= row < len(self.matches) else None

    @catch_all
    def _on_current(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None:
            self.match_selected.emit(item.data(Qt.ItemDataRole.UserRole))

    def _refresh_icons(self, *_: object) -> None:
        for row, match in enumerate(self.matches):
            pixmap = self.thumbnails.pixmap(str(match.path))
            if pixmap is not None:
                self.item(row).setIcon(QIcon(pixmap))

    def names(self) -> list[str]:
        return [Path(m.path).name for m in self.matches]
