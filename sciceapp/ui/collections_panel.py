"""The collections panel: the reference collections, their model and counts, indexing progress.

Folders dropped here are indexed (into the selected collection, or into a new one when none
is selected); the window turns everything else dropped on it into queries.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sciceapp.engine.labels import model_text
from sciceapp.ui.dropping import local_paths
from sciceapp.ui.guard import catch_all
from sciceapp.ui.progress_text import ProgressText
from sciceapp.ui.workers import UNKNOWN_TOTAL

INDEX_KIND_NAMES = {
    "auto": "automatic",
    "flat": "exact",
    "pca": "PCA",
    "ivfpq": "IVF-PQ",
    "twostage": "two-stage",
}


def index_text(summary: Any) -> str:
    """One line (plain text) on a ``CollectionSummary``'s search index: the kind in use, its
    recall against exact search once compressed, or why it is still exact."""
    asked, used = summary.index_kind, summary.index_kind_used
    used_name = INDEX_KIND_NAMES.get(used, used)
    why = f" ({summary.index_reason})" if asked == "auto" else ""
    if used != "flat":
        recall = summary.index_recall_at_10
        if recall is None:
            return f"Index: {used_name}{why}"
        return f"Index: {used_name}, recall@10 {recall:.2f} vs exact (measured at conversion){why}"
    if asked == "flat":
        return "Index: exact"
    if asked == "auto":
        return f"Index: exact{why}"
    reason = summary.index_flat_reason or "it has not converted yet"
    return f"Index: exact for now ({INDEX_KIND_NAMES.get(asked, asked)} asked for): {reason}"


class CollectionsPanel(QWidget):
    create_requested = Signal(list)  # folders
    add_requested = Signal(str, list)  # collection, folders
    update_requested = Signal(str)
    remove_requested = Signal(str)
    skipped_requested = Signal(str)
    cancel_requested = Signal()
    current_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._summaries: dict[str, Any] = {}
        title = QLabel("<b>Reference collections</b>")
        self.list = QListWidget()
        self.list.setToolTip("Drop folders of geotagged photos here to index them")
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.details = QLabel("Drop folders of geotagged photos here,\nor press New to pick them.")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.new_button = QPushButton("New…")
        self.add_button = QPushButton("Add folders…")
        self.update_button = QPushButton("Update")
        self.remove_button = QPushButton("Remove")
        self.skipped_button = QPushButton("Skipped photos…")
        self.new_button.setToolTip("Create a collection from one or more folders (Ctrl+N)")
        self.update_button.setToolTip("Index new and changed photos, forget deleted ones (F5)")
        self.progress = QProgressBar()
        self.progress_text = ProgressText("photos")
        self.busy_title = ""
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.skipped_button.clicked.connect(lambda: self._emit_for_current(self.skipped_requested))
        self.update_button.clicked.connect(lambda: self._emit_for_current(self.update_requested))
        self.remove_button.clicked.connect(lambda: self._emit_for_current(self.remove_requested))

        buttons = QHBoxLayout()
        for button in (self.new_button, self.add_button, self.update_button, self.remove_button):
            buttons.addWidget(button)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.details)
        layout.addWidget(self.skipped_button)
        layout.addLayout(progress_row)
        layout.addWidget(self.progress_label)
        self.set_idle()

    # -- contents -----------------------------------------------------------------------
    def set_collections(self, summaries: list[Any], select: str | None = None) -> None:
        keep = select or self.current_name()
        self._summaries = {s.name: s for s in summaries}
        self.list.blockSignals(True)
        self.list.clear()
        for summary in summaries:
            item = QListWidgetItem(summary.name)
            item.setData(Qt.ItemDataRole.UserRole, summary.name)
            item.setToolTip(model_text(summary.model_label, summary.model_random_init))
            self.list.addItem(item)
        self.list.blockSignals(False)
        names = list(self._summaries)
        if names:
            self.select(keep if keep in self._summaries else names[0])
        self._show_details()

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)
                return

    def current_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def current_summary(self) -> Any | None:
        name = self.current_name()
        return self._summaries.get(name) if name else None

    def _show_details(self) -> None:
        summary = self.current_summary()
        has = summary is not None
        for button in (self.add_button, self.update_button, self.remove_button):
            button.setEnabled(has and not self.is_busy)
        self.skipped_button.setEnabled(has and bool(getattr(summary, "skipped", 0)))
        if not has:
            self.details.setText(
                "Drop folders of geotagged photos here, or press New to pick them."
            )
            return
        model = html.escape(model_text(summary.model_label, summary.model_random_init))
        if summary.model_random_init:
            model = f'<span style="color:#b00020"><b>{model}</b></span>'
        self.details.setText(
            f"<b>{html.escape(summary.name)}</b><br>Model: {model}<br>"
            f"Indexed: {summary.indexed} &nbsp;·&nbsp; without GPS: {summary.without_gps}"
            f" &nbsp;·&nbsp; skipped: {summary.skipped}<br>{html.escape(index_text(summary))}"
        )

    @catch_all
    def _on_current_changed(self, *_: object) -> None:
        self._show_details()
        name = self.current_name()
        if name:
            self.current_changed.emit(name)

    def _emit_for_current(self, signal: Signal) -> None:
        name = self.current_name()
        if name:
            signal.emit(name)

    # -- indexing progress ----------------------------------------------------------------
    @property
    def is_busy(self) -> bool:
        return not self.cancel_button.isHidden()

    def set_busy(self, message: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.busy_title = message
        self.progress_text.reset()
        self.progress_label.setText(message)
        self.new_button.setEnabled(False)
        self._show_details()

    def set_progress(self, done: int, total: int, message: str) -> None:
        """The job's title, then its counts and time left ("12 of 50 photos, about 30 s
        left"); the bar itself shows the percentage."""
        if total == UNKNOWN_TOTAL or total <= 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        line = self.progress_text.text(done, total, message)
        self.progress_label.setText(f"{self.busy_title}\n{line}" if line else self.busy_title)

    def set_idle(self, message: str = "") -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.progress_label.setText(message)
        self.progress_label.setVisible(bool(message))
        self.new_button.setEnabled(True)
        self._show_details()

    # -- drops ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if any(p.is_dir() for p in local_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    @catch_all
    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        folders = [str(p) for p in local_paths(event.mimeData()) if p.is_dir()]
        event.acceptProposedAction()
        if not folders:
            return
        name = self.current_name()
        if name and not self.is_busy:
            self.add_requested.emit(name, folders)
        else:
            self.create_requested.emit(folders)
