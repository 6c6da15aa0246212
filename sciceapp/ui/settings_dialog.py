"""The settings dialog: data folder, where map tiles come from (and the cache of online tiles
kept for offline use: its size, and a button to clear it), top-K, consensus radius, provider
preference."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
)

from sciceapp.engine.tiles import SOURCES as TILE_SOURCES
from sciceapp.ui import file_dialogs, jobs
from sciceapp.ui.dialogs import fit_to_content, open_dialog
from sciceapp.ui.formatting import format_bytes
from sciceapp.ui.guard import catch_all
from sciceapp.ui.settings import OSM_TILE_URL, PROVIDERS, RADIUS_M_RANGE, TOP_K_RANGE, AppSettings
from sciceapp.ui.workers import Worker

MIN_SIZE = QSize(560, 0)  # room for a path in the file fields
CACHE_HELP = (
    "Online tiles you have looked at are kept on disk, so the same area still shows offline. "
    "Only what you view is fetched (never whole regions), as the tile servers ask."
)

TILE_SOURCE_TEXT = {
    "online": "Online tile server (URL)",
    "folder": "Local tile folder",
    "mbtiles": "MBTiles file",
    "none": "None: the built-in world outline",
}


class SettingsDialog(QDialog):
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Settings")
        current: AppSettings = window.settings
        self.data_dir = QLineEdit(current.data_dir)
        self.data_dir.setPlaceholderText(f"default: {window.data_dir}")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_dir, 1)
        data_row.addWidget(browse)
        self.tile_url = QLineEdit(current.tile_url)
        self.tile_url.setPlaceholderText("empty: offline, points on a plain background")
        self.tile_url.setToolTip(
            f"A {{z}}/{{x}}/{{y}} tile address; OpenStreetMap is {OSM_TILE_URL}"
        )
        self.tile_source = QComboBox()
        for source in TILE_SOURCES:
            self.tile_source.addItem(TILE_SOURCE_TEXT[source], source)
        self.tile_source.setCurrentIndex(TILE_SOURCES.index(current.tile_source))
        self.tile_folder = QLineEdit(current.tile_folder)
        self.tile_folder.setPlaceholderText("a folder of z/x/y.png tiles")
        self.mbtiles_path = QLineEdit(current.mbtiles_path)
        self.mbtiles_path.setPlaceholderText("an .mbtiles file (raster tiles)")
        folder_row = self._with_browse(self.tile_folder, self._browse_tiles)
        mbtiles_row = self._with_browse(self.mbtiles_path, self._browse_mbtiles)
        self.top_k = QSpinBox()
        self.top_k.setRange(*TOP_K_RANGE)
        self.top_k.setValue(current.top_k)
        self.radius_m = QDoubleSpinBox()
        self.radius_m.setRange(*RADIUS_M_RANGE)
        self.radius_m.setDecimals(0)
        self.radius_m.setSuffix(" m")
        self.radius_m.setValue(current.radius_m)
        self.provider = QComboBox()
        self.provider.addItems(PROVIDERS)
        self.provider.setCurrentText(current.provider)
        form = QFormLayout(self)
        form.addRow("Data folder", data_row)
        form.addRow("Map tiles", self.tile_source)
        form.addRow("Tile URL (online)", self.tile_url)
        form.addRow("Tile folder", folder_row)
        form.addRow("MBTiles file", mbtiles_row)
        self.cache_size = QLabel("Counting…")
        self.cache_size.setToolTip(CACHE_HELP)
        self.clear_cache_button = QPushButton("Clear cache")
        self.clear_cache_button.setToolTip(CACHE_HELP)
        self.clear_cache_button.setEnabled(False)  # until the size is known
        self.clear_cache_button.clicked.connect(self.clear_cache)
        cache_row = QHBoxLayout()
        cache_row.addWidget(self.cache_size, 1)
        cache_row.addWidget(self.clear_cache_button)
        form.addRow("Tile cache (offline)", cache_row)
        form.addRow("Matches per query (top-K)", self.top_k)
        form.addRow("Consensus radius", self.radius_m)
        form.addRow("Compute provider", self.provider)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.tile_source.currentIndexChanged.connect(self._show_source_fields)
        self._show_source_fields()
        fit_to_content(self, MIN_SIZE)
        self._cache_job(jobs.tile_cache_size)

    def _cache_job(self, fn: Any) -> Worker:
        """Count (or clear) the tile cache in a worker: it can hold many thousand files."""
        worker = Worker(fn, self.window_.tile_cache_folder(), name="tile cache")
        worker.signals.result.connect(self._show_cache_size)
        worker.signals.errored.connect(self._cache_failed)
        return self.window_.pool.start(worker)

    @catch_all
    def clear_cache(self, *_: object) -> Worker:
        self.clear_cache_button.setEnabled(False)
        self.cache_size.setText("Clearing…")
        return self._cache_job(jobs.clear_tile_cache)

    @catch_all
    def _show_cache_size(self, n_bytes: int) -> None:
        self.cache_size.setText(format_bytes(n_bytes))
        self.clear_cache_button.setEnabled(n_bytes > 0)

    @catch_all
    def _cache_failed(self, message: str) -> None:
        self.cache_size.setText(message)
        self.clear_cache_button.setEnabled(True)

    @staticmethod
    def _with_browse(edit: QLineEdit, browse: Any) -> QHBoxLayout:
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(button)
        return row

    def _show_source_fields(self, *_: object) -> None:
        source = self.tile_source.currentData()
        self.tile_url.setEnabled(source == "online")
        self.tile_folder.setEnabled(source == "folder")
        self.mbtiles_path.setEnabled(source == "mbtiles")

    def _browse_tiles(self) -> None:
        folder = file_dialogs.existing_directory(self, "Tile folder", self.tile_folder.text())
        if folder:
            self.tile_folder.setText(folder)

    def _browse_mbtiles(self) -> None:
        path = file_dialogs.open_file_name(
            self, "MBTiles file", "MBTiles (*.mbtiles);;All files (*)", self.mbtiles_path.text()
        )
        if path:
            self.mbtiles_path.setText(path)

    @classmethod
    def show_for(cls, window: Any) -> SettingsDialog:
        return open_dialog(cls, window)

    def _browse(self) -> None:
        folder = file_dialogs.existing_directory(self, "Data folder", self.data_dir.text())
        if folder:
            self.data_dir.setText(folder)

    def values(self) -> AppSettings:
        return replace(
            self.window_.settings,
            data_dir=self.data_dir.text().strip(),
            tile_url=self.tile_url.text().strip(),
            tile_source=self.tile_source.currentData(),
            tile_folder=self.tile_folder.text().strip(),
            mbtiles_path=self.mbtiles_path.text().strip(),
            top_k=self.top_k.value(),
            radius_m=self.radius_m.value(),
            provider=self.provider.currentText(),
        )

    def accept(self) -> None:
        self.window_.apply_settings(self.values())
        super().accept()
