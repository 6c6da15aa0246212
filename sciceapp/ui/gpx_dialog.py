"""Geotag from GPX tracks: pick tracks and photos, see where the track places each photo
(table and map) before anything is written, find the camera's clock offset from one photo
whose place you know (select it, click its place on the map), then apply."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from sciceapp.ui import file_dialogs, geotag_jobs
from sciceapp.ui.guard import catch_all
from sciceapp.ui.map_widget import MapView
from sciceapp.ui.workers import Worker

COLUMNS = ("Photo", "Taken (UTC)", "Position", "Note")


class GpxDialog(QDialog):
    def __init__(self, controller: Any) -> None:
        super().__init__(controller.window)
        self.controller = controller
        self.window_ = controller.window
        self.setWindowTitle("Geotag from GPX tracks")
        self.resize(1100, 700)
        self.tracks: list[str] = []
        self.photos: list[str] = []
        self.result: geotag_jobs.GpxResult | None = None
        self.picking_offset = False
        self._map_dir = tempfile.TemporaryDirectory(prefix="sciceapp-gpx-")
        self._maps = itertools.count(1)
        self.camera_tz = QLineEdit()
        self.camera_tz.setPlaceholderText(
            "e.g. Europe/Rome or +02:00 (for photos that record none)"
        )
        self.offset = QLineEdit("+00:00:00")
        self.offset.setToolTip("Added to the camera clock to get the true time (±HH:MM:SS)")
        self.max_gap = QLineEdit("5m")
        self.inputs = QLabel("No tracks and no photos yet.")
        tracks_button = QPushButton("Add GPX tracks…")
        tracks_button.clicked.connect(self._pick_tracks)
        photos_button = QPushButton("Add photos…")
        photos_button.clicked.connect(self._pick_photos)
        folder_button = QPushButton("Add folder…")
        folder_button.clicked.connect(self._pick_folder)
        self.match_button = QPushButton("Match")
        self.match_button.clicked.connect(catch_all(lambda: self.match()))
        self.offset_button = QPushButton("Find offset from selected photo…")
        self.offset_button.setToolTip("Select a photo whose place you know, then click that place")
        self.offset_button.clicked.connect(catch_all(lambda: self.start_offset_pick()))
        self.apply_button = QPushButton("Apply…")
        self.apply_button.clicked.connect(catch_all(lambda: self.apply()))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.map_view = MapView(Path(self._map_dir.name), pool=self.window_.pool)
        self.map_view.map_clicked.connect(catch_all(self._on_map_clicked))
        self.status = QLabel("")
        self.status.setWordWrap(True)

        pick = QHBoxLayout()
        for widget in (tracks_button, photos_button, folder_button):
            pick.addWidget(widget)
        pick.addStretch(1)
        form = QFormLayout()
        form.addRow("Camera time zone", self.camera_tz)
        form.addRow("Clock offset", self.offset)
        form.addRow("Maximum gap", self.max_gap)
        actions = QHBoxLayout()
        actions.addWidget(self.match_button)
        actions.addWidget(self.offset_button)
        actions.addStretch(1)
        actions.addWidget(self.apply_button)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(self.map_view)
        split.setSizes([500, 600])
        layout = QVBoxLayout(self)
        layout.addLayout(pick)
        layout.addWidget(self.inputs)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self._set_matched(False)

    def _set_matched(self, matched: bool) -> None:
        self.apply_button.setEnabled(matched)
        self.offset_button.setEnabled(matched)

    # -- inputs ------------------------------------------------------------------------------
    def set_inputs(self, tracks: list[str], photos: list[str]) -> None:
        self.tracks = list(dict.fromkeys([*self.tracks, *tracks]))
        self.photos = list(dict.fromkeys([*self.photos, *photos]))
        self.inputs.setText(
            f"{len(self.tracks)} track file(s): "
            + ", ".join(Path(t).name for t in self.tracks)
            + f"; {len(self.photos)} photo(s) or folder(s)."
        )

    @catch_all
    def _pick_tracks(self) -> None:
        files = file_dialogs.open_file_names(self, "GPX tracks", "GPX (*.gpx);;All (*)")
        self.set_inputs(files, [])

    @catch_all
    def _pick_photos(self) -> None:
        files = file_dialogs.open_file_names(self, "Photos to geotag")
        self.set_inputs([], files)

    @catch_all
    def _pick_folder(self) -> None:
        folder = file_dialogs.existing_directory(self, "Folder of photos to geotag")
        if folder:
            self.set_inputs([], [folder])

    # -- matching ------------------------------------------------------------------------------
    def match(self) -> Worker | None:
        if not self.tracks or not self.photos:
            self.window_.show_error("Add at least one GPX track and some photos first.")
            return None
        worker = Worker(
            geotag_jobs.match_gpx, self.tracks, self.photos, self.camera_tz.text(),
            self.offset.text(), self.max_gap.text(), name="match gpx",
        )  # fmt: skip
        worker.signals.result.connect(self._matched)
        worker.signals.errored.connect(self.window_.show_error)
        self.status.setText("Matching photos to the track…")
        return self.window_.pool.start(worker)

    @catch_all
    def _matched(self, result: geotag_jobs.GpxResult) -> None:
        self.result = result
        self.table.setRowCount(len(result.matches))
        for row, match in enumerate(result.matches):
            where = "" if match.point is None else f"{match.point.lat:.6f}, {match.point.lon:.6f}"
            when = "" if match.time is None else match.time.strftime("%Y-%m-%d %H:%M:%S")
            cells = (Path(match.photo).name, when, where, match.reason or "")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(match.photo)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        placed = sum(1 for m in result.matches if m.point is not None)
        self.status.setText(
            f"{placed} of {len(result.matches)} photo(s) placed on {len(result.track.points)} "
            "track points. Nothing is written until you press Apply."
        )
        self._set_matched(placed > 0)
        self.map_view.set_overlay("track", result.lines)  # drawn once the page is loaded
        out = Path(self._map_dir.name) / f"gpx-{next(self._maps)}.html"
        worker = Worker(
            geotag_jobs.render_gpx_map, result, out, self.window_.tile_url(),
            self.window_.tile_attribution(), name="gpx map",
        )  # fmt: skip
        worker.signals.result.connect(catch_all(self.map_view.show_map))
        worker.signals.errored.connect(self.window_.show_error)
        self.window_.pool.start(worker)

    # -- the clock offset from one known place ---------------------------------------------------
    def start_offset_pick(self) -> None:
        row = self.table.currentRow()
        if self.result is None or row < 0:
            self.window_.show_error("Select the photo whose place you know first.")
            return
        self.picking_offset = True
        self.status.setText(
            f"Click on the map where {Path(self.result.matches[row].photo).name} was taken."
        )

    def _on_map_clicked(self, lat: float, lon: float) -> Worker | None:
        if not self.picking_offset or self.result is None:
            return None
        self.picking_offset = False
        photo = self.result.matches[max(self.table.currentRow(), 0)].photo
        worker = Worker(
            geotag_jobs.find_gpx_offset, self.result.track, photo, lat, lon,
            self.camera_tz.text(), name="gpx offset",
        )  # fmt: skip
        worker.signals.result.connect(self._offset_found)
        worker.signals.errored.connect(self.window_.show_error)
        return self.window_.pool.start(worker)

    @catch_all
    def _offset_found(self, found: tuple[Any, float]) -> None:
        from sciceapp.engine.geotag.gpx import format_offset

        offset, distance_m = found
        self.offset.setText(format_offset(offset))
        self.status.setText(
            f"Clock offset {format_offset(offset)} (the track passes {distance_m:.0f} m from the "
            "place you clicked); matching again…"
        )
        self.match()

    # -- writing ------------------------------------------------------------------------------
    def apply(self) -> Any:
        from sciceapp.engine.geotag.plans import plan_gpx

        if self.result is None:
            return None
        plan = plan_gpx(self.result.matches, self.result.track)
        return self.controller.confirm_and_write(
            plan.requests,
            f"GPX {self.result.track.name}: {len(plan.requests)} photo(s)",
            plan.left,
            f"the position from the GPX track {self.result.track.name}",
            parent=self,
        )

    def done(self, code: int) -> None:  # noqa: D401 - Qt override: clean the map files up
        super().done(code)
        self._map_dir.cleanup()
