"""The main window: collections on the left, queries below them, the map and the match strip
on the right. Everything slow runs in workers; this class wires widgets, actions and drops."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from sciceapp import paths as app_paths
from sciceapp.ui.actions import install_actions
from sciceapp.ui.collections_panel import CollectionsPanel
from sciceapp.ui.dropping import local_paths
from sciceapp.ui.geotagging import GeotagController
from sciceapp.ui.guard import catch_all, remove_error_sink, set_error_sink
from sciceapp.ui.indexing import IndexingController
from sciceapp.ui.locating import QueryController
from sciceapp.ui.map_widget import MapView
from sciceapp.ui.match_strip import MatchStrip
from sciceapp.ui.queries import QueryTableModel
from sciceapp.ui.settings import AppSettings, load_settings, make_qsettings, save_settings
from sciceapp.ui.thumbnails import ThumbnailCache
from sciceapp.ui.window_collections import CollectionCommands
from sciceapp.ui.window_queries import QueryCommands
from sciceapp.ui.workers import WorkerPool

log = logging.getLogger("sciceapp.ui")

WINDOW_SIZE_PX = (1440, 900)
CLOSE_WAIT_MS = 60_000
QUERY_ICON_PX = (64, 48)
TILE_CACHE_FOLDER = "tile-cache"  # in the data folder: online tiles seen, for offline use


class MainWindow(CollectionCommands, QueryCommands, QMainWindow):
    error_shown = Signal(str)

    def __init__(
        self,
        data_dir: str | Path | None = None,
        store: QSettings | None = None,
        *,
        first_run_check: bool = True,
    ) -> None:
        super().__init__()
        self.store = store or make_qsettings()
        self.settings: AppSettings = load_settings(self.store)
        self.data_dir = app_paths.data_dir(data_dir or self.settings.data_dir or None)
        self.first_run_check = first_run_check
        self.pool = WorkerPool(self)
        self._map_tmp = tempfile.TemporaryDirectory(prefix="sciceapp-map-")
        self.error_box: QMessageBox | None = None
        self.first_run_dialog: Any = None
        self.setWindowTitle("sciceapp: where was this photo taken?")
        self.setAcceptDrops(True)
        self._build()
        self.actions_by_name = install_actions(self)
        self.geotag = GeotagController(self)
        self.map_view.marker_moved.connect(catch_all(self.geotag.write_marker_position))
        self.geotag.photos_changed.connect(self.locating.photos_changed)
        from sciceapp.ui.help_menu import install_help_menu

        self.about_box: QMessageBox | None = None
        self.actions_by_name.update(install_help_menu(self))  # last: Help is the last menu
        from sciceapp.ui import context_menus
        from sciceapp.ui.why_match import why_this_match_entry

        self.context_menu: Any = None
        if why_this_match_entry not in context_menus.MATCH_MENU_EXTRAS:
            context_menus.MATCH_MENU_EXTRAS.append(why_this_match_entry)
        context_menus.install(self)
        set_error_sink(self.show_error)
        self.indexing.state_loaded.connect(self._on_state_loaded)
        self.indexing.refresh(select=self.settings.last_collection or None)
        self.resize(*WINDOW_SIZE_PX)
        geometry = self.store.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.statusBar().showMessage(f"Data folder: {self.data_dir}")

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.thumbnails = ThumbnailCache(self.pool, parent=self)
        self.collections = CollectionsPanel()
        self.indexing = IndexingController(
            self.pool, self.collections, lambda: self.data_dir, lambda: self.settings.provider
        )
        self.query_model = QueryTableModel(self.thumbnails, self)
        self.query_table = QTableView()
        self.query_table.setModel(self.query_model)
        self.query_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.query_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.query_table.verticalHeader().setDefaultSectionSize(QUERY_ICON_PX[1] + 6)
        self.query_table.verticalHeader().hide()
        self.query_table.setIconSize(QSize(*QUERY_ICON_PX))
        self.query_table.setAlternatingRowColors(True)
        self.query_table.setSortingEnabled(True)  # the model sorts its rows itself
        self.query_table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # in the order dropped
        self.query_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.query_table.horizontalHeader().setStretchLastSection(True)
        self.query_table.doubleClicked.connect(lambda _i: self.open_current_photo())
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText(
            "Drop photos anywhere, or paste a photo or folder path and press Enter"
        )
        self.path_edit.returnPressed.connect(self._on_path_entered)
        open_button = QPushButton("Open photos…")
        open_button.clicked.connect(self.open_photos)
        query_row = QHBoxLayout()
        query_row.addWidget(self.path_edit, 1)
        query_row.addWidget(open_button)
        query_box = QWidget()
        query_layout = QVBoxLayout(query_box)
        query_layout.setContentsMargins(4, 4, 4, 4)
        query_layout.addWidget(QLabel("<b>Query photos</b>"))
        query_layout.addLayout(query_row)
        query_layout.addWidget(self.query_table, 1)
        from sciceapp.ui.query_details import QueryDetails

        self.query_details = QueryDetails(self.query_table, self.query_model)
        query_layout.addWidget(self.query_details)

        self.map_view = MapView(Path(self._map_tmp.name), pool=self.pool)
        self.map_view.files_dropped.connect(self.add_queries)
        self.map_view.map_page.navigation_refused.connect(
            lambda url: self.statusBar().showMessage(
                f"The map stays on its own page (refused {url[:80]}).", 5000
            )
        )
        self.strip = MatchStrip(self.thumbnails)
        self.strip.explain_requested.connect(self.explain_match)
        self.strip_label = QLabel("<b>Best matches</b> (select a query)")
        self.locating = QueryController(
            self, self.pool, self.query_model, self.query_table, self.strip, self.map_view
        )
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.map_view, 1)
        right_layout.addWidget(self.strip_label)
        right_layout.addWidget(self.strip)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.collections)
        left.addWidget(query_box)
        left.setSizes([270, 630])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setSizes([560, 880])
        self.setCentralWidget(self.splitter)

        self.collections.create_requested.connect(self.create_from_dropped)
        self.collections.new_button.clicked.connect(lambda: self.new_collection())
        self.collections.add_button.clicked.connect(self.add_folders)
        self.collections.add_requested.connect(self.indexing.add)
        self.collections.update_requested.connect(self.indexing.update)
        self.collections.remove_requested.connect(self.remove_collection)
        self.collections.skipped_requested.connect(self.show_skipped)
        self.collections.current_changed.connect(self._on_collection_changed)
        self.indexing.message.connect(lambda text: self.statusBar().showMessage(text))
        self.indexing.failed.connect(self.show_error)
        self.locating.message.connect(lambda text: self.statusBar().showMessage(text))
        self.locating.failed.connect(self.show_error)
        self.locating.queries_finished.connect(self._on_queries_finished)

    # -- errors -----------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        """Tell the user (status bar and a non-blocking message box); the window goes on."""
        log.warning("%s", message)
        self.statusBar().showMessage(message, 15_000)
        if self.error_box is None:
            self.error_box = QMessageBox(QMessageBox.Icon.Warning, "sciceapp", message, parent=self)
            self.error_box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_box.setText(message)
        self.error_box.open()
        self.error_shown.emit(message)

    def tile_url(self, *, exported: bool = False) -> str:
        """The tile address template the map pages use ("" for none: the world outline),
        from the source chosen in Settings. The app serves an MBTiles file and a tile folder
        itself, and online tiles through its on-disk cache (``tile_cache_folder``); an
        ``exported`` page, opened in any browser, asks the online server directly, reads a
        tile folder by its file:// address and has no MBTiles."""
        from sciceapp.engine.tiles import tile_url
        from sciceapp.ui.tile_scheme import install_tile_handler

        s = self.settings
        where = {"url": s.tile_url, "folder": s.tile_folder, "mbtiles": s.mbtiles_path}
        if exported:
            return "" if s.tile_source == "mbtiles" else tile_url(s.tile_source, **where)
        handler = install_tile_handler()
        handler.set_mbtiles(s.mbtiles_path if s.tile_source == "mbtiles" else "")
        handler.set_folder(s.tile_folder if s.tile_source == "folder" else "")
        handler.set_online(s.tile_url, self.tile_cache_folder())
        return tile_url(s.tile_source, cached=True, **where)

    def tile_cache_folder(self) -> Path:
        return self.data_dir / TILE_CACHE_FOLDER

    def tile_attribution(self) -> str | None:
        """The credit online tiles need, which their address through the cache cannot give."""
        from sciceapp.engine.mapview import tile_credit

        s = self.settings
        return tile_credit(s.tile_url) if s.tile_source == "online" and s.tile_url else None

    # -- dialogs ----------------------------------------------------------------------------------------
    def show_first_run(self) -> None:
        from sciceapp.ui.first_run import FirstRunDialog

        self.first_run_dialog = FirstRunDialog(self)
        self.first_run_dialog.open()

    def open_models(self) -> Any:
        from sciceapp.ui.model_dialog import ModelDialog

        return ModelDialog.show_for(self)

    def open_settings(self) -> None:
        from sciceapp.ui.settings_dialog import SettingsDialog

        SettingsDialog.show_for(self)

    def open_review(self) -> None:
        from sciceapp.ui.review_window import ReviewWindow

        ReviewWindow.show_for(self)

    def export_map(self) -> None:
        from sciceapp.ui.map_render import export_current_map

        export_current_map(self)

    def apply_settings(self, settings: AppSettings) -> None:
        """Take new settings from the dialog; a new data folder reloads everything."""
        old_dir = self.data_dir
        self.settings = settings.clamped()
        save_settings(self.settings, self.store)
        new_dir = app_paths.data_dir(self.settings.data_dir or None)
        if new_dir != old_dir:
            self.data_dir = new_dir
            self.clear_queries()
            self.indexing.refresh()
        else:  # tiles or radius may have changed: a new page with the same overlays
            self.locating.ensure_page(reload=True)
            self.locating.render_map(self.locating.current_result(), focus=False)

    # -- drops anywhere: queries ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    @catch_all
    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = local_paths(event.mimeData())
        event.acceptProposedAction()
        if paths:
            self.add_queries([str(p) for p in paths])

    # -- closing -----------------------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Cancel running jobs (engine work finished so far is kept) and remember the window."""
        if self.indexing.busy:
            self.statusBar().showMessage("Stopping indexing; keeping what is done…")
        from sciceapp.ui.export_process import ExportProcess

        for export in self.findChildren(ExportProcess):  # a model export still running
            export.stop_and_wait()
        if not self.pool.close(CLOSE_WAIT_MS):
            log.warning("Some background jobs did not stop within %d s", CLOSE_WAIT_MS // 1000)
        self.store.setValue("window/geometry", self.saveGeometry())
        save_settings(self.settings, self.store)
        remove_error_sink(self.show_error)
        super().closeEvent(event)
        QTimer.singleShot(0, self._map_tmp.cleanup)
