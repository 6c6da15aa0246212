"""The main window's query commands: photos to locate (dropped, opened, pasted or typed), the
query list (remove, clear), the strip's title, copying the predicted position, opening a photo
in the system's viewer, and "Why this match?". Locating itself runs in workers
(``locating.QueryController``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from sciceapp.ui import file_dialogs, jobs
from sciceapp.ui.dialogs import open_dialog
from sciceapp.ui.dropping import paths_from_text
from sciceapp.ui.formatting import format_latlon
from sciceapp.ui.guard import catch_all
from sciceapp.ui.workers import Worker

if TYPE_CHECKING:
    from PySide6.QtWidgets import QLabel, QLineEdit, QTableView

    from sciceapp.ui.locating import QueryController
    from sciceapp.ui.match_strip import MatchStrip
    from sciceapp.ui.queries import QueryTableModel
    from sciceapp.ui.workers import WorkerPool


class QueryCommands:
    """``MainWindow``'s query commands (module docstring); the window gives them its widgets,
    controllers, ``pool`` and ``show_error``."""

    pool: WorkerPool
    locating: QueryController
    query_model: QueryTableModel
    query_table: QTableView
    path_edit: QLineEdit
    strip: MatchStrip
    strip_label: QLabel

    @catch_all
    def add_queries(self, paths: list[str]) -> Any:
        """Locate photos (folders are searched for photos) against the current collection."""
        name = self.current_collection()
        if name is None:
            self.show_error(
                "There is no reference collection yet: create one from folders of geotagged photos first."
            )
            return None
        # Walking a folder tree can take long (network drives, huge trees): not on this thread.
        worker = Worker(jobs.find_photos, paths, name="find photos")
        worker.signals.result.connect(catch_all(lambda photos: self._locate_found(name, photos)))
        worker.signals.errored.connect(self.show_error)
        self.statusBar().showMessage("Looking for photos…")
        return self.pool.start(worker)

    def _locate_found(self, name: str, photos: list[Path]) -> Any:
        if not photos:
            self.show_error(
                "No photos found in what was dropped (supported: JPEG, PNG, TIFF, WebP, HEIC)."
            )
            return None
        return self.locating.locate(name, photos)

    def open_photos(self) -> None:
        files = file_dialogs.open_file_names(
            self,
            "Photos to locate",
            "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.heic *.heif);;All files (*)",
        )
        if files:
            self.add_queries(files)

    def open_query_folder(self) -> None:
        folder = file_dialogs.existing_directory(self, "Folder of photos to locate")
        if folder:
            self.add_queries([folder])

    def paste_paths(self) -> None:
        self.add_queries(paths_from_text(QApplication.clipboard().text()))

    @catch_all
    def _on_path_entered(self) -> None:
        text = self.path_edit.text()
        if text.strip():
            self.add_queries(paths_from_text(text))
            self.path_edit.clear()

    def remove_query(self, row: int) -> None:
        """Remove one query; the selection (and so strip and map) moves to a neighbour."""
        self.query_model.remove(row)
        if not self.query_model.rows:
            self.clear_queries()
            return
        self.query_table.selectRow(min(row, len(self.query_model.rows) - 1))

    def clear_queries(self) -> None:
        self.query_model.clear()
        self.strip.show_matches(None)
        self.name_strip()
        self.locating.render_map(None)

    @catch_all
    def _on_queries_finished(self, results: list) -> None:
        self.name_strip()

    def name_strip(self) -> None:
        """The strip's title names the selected query (escaped: a file name is not markup)."""
        import html

        row = self.query_table.currentIndex().row()
        name = self.query_model.rows[row].name if 0 <= row < len(self.query_model.rows) else None
        self.strip_label.setText(
            f"<b>Best matches</b> for {html.escape(name)}" if name else "<b>Best matches</b>"
        )

    def copy_coordinates(self) -> None:
        result = self.locating.current_result()
        if result is None or result.predicted is None:
            self.show_error("Select a located query first.")
            return
        text = format_latlon(*result.predicted)
        QApplication.clipboard().setText(text)
        self.statusBar().showMessage(f"Copied {text}", 5000)

    def open_current_photo(self) -> None:
        match = self.strip.current_match() if self.strip.hasFocus() else None
        row = self.query_table.currentIndex().row()
        path = match.path if match else (self.query_model.rows[row].path if row >= 0 else None)
        if path:
            self.open_in_viewer(str(path))

    def open_in_viewer(self, path: str) -> bool:
        """Open a photo with the system's viewer; say so when there is none."""
        if not Path(path).exists():
            self.show_error(f"Cannot open {path}: the file is not there any more.")
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
            self.show_error(
                f"No program to open {Path(path).name} was found (is an image viewer installed "
                "and set as the default for this kind of file?)."
            )
            return False
        return True

    @catch_all
    def explain_match(self, row: int) -> Any:
        """ "Why this match?" for the current query's match in ``row`` (computed in a worker)."""
        from sciceapp.ui.why_match import WhyMatchDialog

        result = self.locating.current_result()
        if result is None or not 0 <= row < len(self.strip.matches):
            return None
        return open_dialog(WhyMatchDialog, self, result.query, self.strip.matches[row], modal=False)
