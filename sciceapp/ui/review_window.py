"""Field survey review: recorded vs predicted positions of a folder of geotagged photos, with
the disagreements flagged, sortable, exportable as CSV or GeoJSON, and both on the map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from sciceapp.engine.defaults import DEFAULT_THRESHOLD_M
from sciceapp.ui import file_dialogs, jobs
from sciceapp.ui.dialogs import close_buttons, fit_to_content, open_dialog
from sciceapp.ui.guard import catch_all
from sciceapp.ui.match_strip import MatchStrip
from sciceapp.ui.progress_text import ProgressText
from sciceapp.ui.review_table import ReviewTableModel
from sciceapp.ui.workers import Worker, show_progress

MIN_SIZE = QSize(760, 480)


class ReviewWindow(QDialog):
    """``reread_done`` follows the rows' positions being read again after a write or undo."""

    reread_done = Signal()

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self._name_collection(window.current_collection())
        window.collections.current_changed.connect(self._name_collection)
        self.model = ReviewTableModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        # The selected photo's matches, with their verified badges and inliers, as in the
        # main window's strip.
        self.strip = MatchStrip(window.thumbnails)
        self.strip.setToolTip("The selected photo's matches")
        self.threshold_used: float = DEFAULT_THRESHOLD_M
        self.on_map = False
        window.geotag.photos_changed.connect(self._photos_changed)
        self.threshold_m = QDoubleSpinBox()
        self.threshold_m.setRange(1, 100_000)
        self.threshold_m.setDecimals(0)
        self.threshold_m.setSuffix(" m")
        self.threshold_m.setValue(DEFAULT_THRESHOLD_M)
        self.open_button = QPushButton("Open folder…")
        self.open_button.clicked.connect(self._open)
        self.csv_button = QPushButton("Export CSV…")
        self.geojson_button = QPushButton("Export GeoJSON…")
        self.csv_button.clicked.connect(lambda: self._export("csv"))
        self.geojson_button.clicked.connect(lambda: self._export("geojson"))
        self.map_button = QPushButton("Show on map")
        self.map_button.clicked.connect(self.show_on_map)
        self.show_agreeing = QCheckBox("Show agreeing photos on the map")
        self.show_agreeing.setToolTip(
            "Agreeing photos are drawn faint; untick to leave only the flagged ones."
        )
        self.show_agreeing.setChecked(True)
        self.show_agreeing.toggled.connect(
            catch_all(lambda on: window.map_view.set_review_options(show_agreeing=on))
        )
        self.apply_button = QPushButton("Apply predicted location…")
        self.apply_button.setToolTip(
            "Write the predicted position into the selected photos (or their XMP sidecars); "
            "Edit > Undo puts them back"
        )
        self.apply_button.clicked.connect(self.apply_selected)
        self.unverified = QCheckBox("also unverified predictions")
        self.unverified.setToolTip(
            "Predictions that no match confirmed geometrically are left alone unless this is on"
        )
        self.progress = QProgressBar()
        self.progress_text = ProgressText("photos")
        self.progress.hide()
        self.summary = QLabel(
            "Open a folder of geotagged photos to check their GPS against what they show."
        )
        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(QLabel("Flag when more than"))
        top.addWidget(self.threshold_m)
        top.addStretch(1)
        top.addWidget(self.map_button)
        top.addWidget(self.csv_button)
        top.addWidget(self.geojson_button)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.unverified)
        bottom.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.strip)
        bottom.insertWidget(0, self.show_agreeing)
        self.close_buttons = close_buttons(self, bottom)
        layout.addLayout(bottom)
        self._set_has_rows(False)
        fit_to_content(self, MIN_SIZE)

    @classmethod
    def show_for(cls, window: Any) -> ReviewWindow:
        return open_dialog(cls, window, modal=False)

    @catch_all
    def _name_collection(self, name: str | None) -> None:
        """The title says which collection the photos are checked against."""
        self.collection = name or None
        self.setWindowTitle(
            f"Field survey review against “{name}”" if name else "Field survey review"
        )

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """Closed (Close, Esc, the title bar): the survey leaves the main map."""
        if not event.spontaneous():
            self.window_.locating.clear_review()
            self.on_map = False
        super().hideEvent(event)

    def _set_has_rows(self, has: bool) -> None:
        for button in (self.csv_button, self.geojson_button, self.map_button, self.apply_button):
            button.setEnabled(has)

    @catch_all
    def _open(self) -> None:
        folder = file_dialogs.existing_directory(self, "Folder of geotagged survey photos")
        if folder:
            self.review(folder)

    def review(self, folder: str) -> Worker | None:
        name = self.window_.current_collection()
        if name is None:
            self.window_.show_error(
                "Select a reference collection to compare the survey photos with."
            )
            return None
        worker = Worker(
            jobs.review_folder,
            self.window_.data_dir,
            name,
            folder,
            self.threshold_m.value(),
            self.window_.settings.top_k,
            self.window_.settings.radius_m,
            self.window_.settings.provider,
            name="review",
        )
        worker.signals.progress.connect(self._on_progress)
        worker.signals.result.connect(self._reviewed)
        worker.signals.errored.connect(self.window_.show_error)
        worker.signals.finished.connect(self.progress.hide)
        self.threshold_used = self.threshold_m.value()
        self.progress.setRange(0, 0)
        self.progress_text.reset()
        self.progress.show()
        self.summary.setText(f"Reviewing {folder} against “{name}”…")
        return self.window_.pool.start(worker)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.progress, done, total, message, self.progress_text)

    @catch_all
    def _reviewed(self, rows: list[Any]) -> None:
        self.model.set_rows(rows)
        self._summarise()
        self._set_has_rows(bool(rows))
        self.table.resizeColumnsToContents()
        self._fit_table()

    def _summarise(self) -> None:
        rows = self.model.rows
        flagged = sum(1 for r in rows if r.flagged)
        verified = sum(1 for r in rows if r.verified)
        self.summary.setText(
            f"{len(rows)} photo(s); {flagged} flagged where the recorded and predicted positions "
            f"disagree; {verified} predicted from a verified match."
        )

    def _fit_table(self) -> None:
        """Grow to show every column (within the screen), never shrink under the user."""
        header = self.table.horizontalHeader()
        wanted = header.length() + self.table.verticalHeader().width() + 60
        screen = self.screen().availableGeometry() if self.screen() else None
        limit = screen.width() - 40 if screen is not None else wanted
        self.resize(max(self.width(), min(wanted, limit)), self.height())

    @catch_all
    def _export(self, kind: str) -> None:
        pattern = "CSV (*.csv)" if kind == "csv" else "GeoJSON (*.geojson *.json)"
        path = file_dialogs.save_file_name(
            self, f"Export {kind.upper()}", f"review.{kind}", pattern
        )
        if path:
            self.export(kind, path)

    def export(self, kind: str, path: str) -> None:
        from sciceapp.engine.review import write_csv, write_geojson

        (write_csv if kind == "csv" else write_geojson)(self.model.rows, Path(path))
        self.window_.statusBar().showMessage(f"Wrote {path}", 5000)

    @catch_all
    def show_on_map(self) -> None:
        self.window_.locating.render_review(self.model.rows)
        self.on_map = True

    def current_row(self) -> Any | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        return self.model.rows[self.proxy.mapToSource(index).row()]

    @catch_all
    def _on_current_row(self, *_: Any) -> None:
        row = self.current_row()
        self.strip.show_matches(row.result if row is not None else None)

    @catch_all
    def _photos_changed(self, paths: list[str]) -> None:
        """sciceapp wrote or restored these photos' locations: read the rows' positions again."""
        touched = set(paths)
        rows = [r for r in self.model.rows if r.path in touched and r.result is not None]
        if rows:
            self.window_.geotag.reread(
                [r.result for r in rows], lambda fresh: self._reread(rows, fresh)
            )

    def _reread(self, rows: list[Any], results: list[Any]) -> None:
        from sciceapp.engine.map_overlays import review_overlay
        from sciceapp.engine.review import row_from_result

        for old, result in zip(rows, results, strict=True):
            self.model.replace_row(old, row_from_result(result, self.threshold_used))
        self._summarise()
        self._on_current_row()
        if self.on_map:
            self.window_.map_view.set_overlay("review", review_overlay(self.model.rows))
        self.reread_done.emit()

    def selected_rows(self) -> list[Any]:
        picked = self.table.selectionModel().selectedRows()
        return [self.model.rows[self.proxy.mapToSource(i).row()] for i in picked]

    @catch_all
    def apply_selected(self) -> Any:
        """Confirm, then write the selected rows' predicted positions (verified ones unless
        the box is ticked)."""
        from sciceapp.engine.geotag.plans import plan_review

        rows = self.selected_rows()
        if not rows:
            self.window_.show_error("Select the photos whose predicted location to write.")
            return None
        name = self.window_.current_collection() or ""
        plan = plan_review(rows, name, "all", include_unverified=self.unverified.isChecked())
        return self.window_.geotag.confirm_and_write(
            plan.requests,
            f"review: applied the predicted location to {len(plan.requests)} photo(s)",
            plan.left,
            "the predicted location",
            parent=self,
        )
