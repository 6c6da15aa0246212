"""Runs queries against the current collection and keeps the query list, match strip and map
in step: select a query to see its matches; pick a match to see it on the map and back."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QObject, Signal
from PySide6.QtWidgets import QTableView

from sciceapp.ui import jobs, map_render
from sciceapp.ui.guard import catch_all
from sciceapp.ui.map_widget import MapView
from sciceapp.ui.match_strip import MatchStrip
from sciceapp.ui.progress_text import ProgressText
from sciceapp.ui.queries import QueryTableModel
from sciceapp.ui.workers import Worker, WorkerPool

log = logging.getLogger("sciceapp.ui")


class QueryController(QObject):
    queries_finished = Signal(list)  # the LocateResults of one batch
    positions_reread = Signal()  # queries' own positions read again after a write or undo
    message = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        window: Any,
        pool: WorkerPool,
        model: QueryTableModel,
        table: QTableView,
        strip: MatchStrip,
        map_view: MapView,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.pool = pool
        self.model = model
        self.table = table
        self.strip = strip
        self.map_view = map_view
        self.jobs: set[Worker] = set()
        self._map_counter = itertools.count(1)
        self._render_job: Worker | None = None
        self.map_collection: str | None = None
        table.selectionModel().currentRowChanged.connect(self._on_row_changed)
        strip.match_selected.connect(map_view.highlight)
        map_view.marker_clicked.connect(self._on_marker_clicked)

    # -- queries ----------------------------------------------------------------------------
    def locate(self, collection: str, paths: list[Path]) -> Worker | None:
        settings = self.window.settings
        rows = self.model.add_paths([str(p) for p in paths])
        self.model.set_status(rows, "locating…")
        worker = Worker(
            jobs.locate_photos,
            self.window.data_dir,
            collection,
            [str(p) for p in paths],
            settings.top_k,
            settings.radius_m,
            settings.provider,
            name="locate",
        )
        counts = ProgressText("photos")
        worker.signals.progress.connect(
            lambda done, total, _m: self.message.emit(
                f"Locating in “{collection}”: {counts.text(done, total)}…"
            )
        )
        worker.signals.result.connect(lambda results: self._located(rows, results))
        worker.signals.errored.connect(lambda text: self._not_located(rows, text, failed=True))
        worker.signals.cancelled.connect(lambda text: self._not_located(rows, text))
        worker.signals.finished.connect(lambda: self.jobs.discard(worker))
        self.jobs.add(worker)
        self.message.emit(f"Locating {len(paths)} photo(s) in “{collection}”…")
        return self.pool.start(worker)

    @catch_all
    def _located(self, rows: list[Any], results: list[Any]) -> None:
        self.model.set_results(rows, results)
        located = sum(1 for r in results if r.predicted is not None)
        self.message.emit(f"Located {located} of {len(results)} photo(s).")
        first = self.model.row_of(rows[0])
        if first >= 0:  # still listed (the user may have removed it meanwhile)
            self.table.selectionModel().setCurrentIndex(
                self.model.index(first, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.show_row(first)
        self.queries_finished.emit(results)

    @catch_all
    def _not_located(self, rows: list[Any], text: str, failed: bool = False) -> None:
        self.model.set_status(rows, f"failed: {text}" if failed else "cancelled")
        if failed:
            self.failed.emit(f"Locating failed: {text}")
        else:
            self.message.emit(text)
        self.queries_finished.emit([])

    def cancel(self) -> None:
        for worker in list(self.jobs):
            worker.cancel()

    @catch_all
    def photos_changed(self, paths: list[str]) -> None:
        """sciceapp wrote or restored these photos' locations: the queries among them read
        their own position again (the prediction and matches stay)."""
        touched = set(paths)
        rows = [r for r in self.model.rows if r.path in touched and r.result is not None]
        if rows:
            self.window.geotag.reread([r.result for r in rows], lambda new: self._reread(rows, new))

    def _reread(self, rows: list[Any], results: list[Any]) -> None:
        self.model.set_results(rows, results)
        current = self.table.currentIndex().row()
        if any(self.model.row_of(r) == current for r in rows):
            self.show_row(current)
        self.positions_reread.emit()

    # -- selection -------------------------------------------------------------------------------
    def current_result(self) -> Any | None:
        row = self.table.currentIndex().row()
        if 0 <= row < len(self.model.rows):
            return self.model.rows[row].result
        return None

    @catch_all
    def _on_row_changed(self, current: Any, _previous: Any) -> None:
        if current.isValid():
            self.show_row(current.row())

    def show_row(self, row: int) -> None:
        result = self.model.rows[row].result
        self.strip.show_matches(result)
        self.window.name_strip()
        self.render_map(result)

    @catch_all
    def _on_marker_clicked(self, marker: str) -> None:
        if self.strip.select_marker(marker):
            match = self.strip.current_match()
            self.message.emit(f"Match: {Path(match.path).name}")

    # -- the map -------------------------------------------------------------------------------
    @property
    def render_pending(self) -> bool:
        """A page is being written, loading, or an overlay pushed into it is not drawn yet."""
        return self._render_job is not None or self.map_view.busy

    def render_map(self, result: Any | None = None, *, focus: bool = True) -> Worker | None:
        """Show one query's result over the collection's page (loaded once per collection;
        this only pushes the overlay) and, with ``focus``, zoom to its neighbourhood."""
        from sciceapp.engine.map_overlays import focus_bounds, query_overlay

        radius_m = self.window.settings.radius_m
        results = [result] if result is not None and not result.error else []
        self.map_view.set_overlay("queries", query_overlay(results, radius_m))
        if focus and results:
            self.map_view.focus(focus_bounds(results[0], radius_m))
        return self.ensure_page()

    def render_review(self, rows: list[Any]) -> Worker | None:
        """Show a survey's recorded -> predicted arrows and fit the view to them."""
        from sciceapp.engine.map_overlays import review_bounds, review_overlay

        self.map_view.set_overlay("review", review_overlay(rows))
        self.map_view.focus(review_bounds(rows))
        return self.ensure_page()

    def clear_review(self) -> None:
        self.map_view.set_overlay("review", [])

    def ensure_page(self, *, reload: bool = False) -> Worker | None:
        """Write and load the current collection's page unless it is the one on screen."""
        collection = self.window.current_collection()
        if collection is None or (collection == self.map_collection and not reload):
            return None
        out = self.map_view.map_dir / f"map-{next(self._map_counter)}.html"
        settings = self.window.settings
        args = (self.window.data_dir, collection, [], out, self.window.tile_url(), True)
        worker = Worker(
            map_render.render_collection_map,
            *args,
            settings.radius_m,
            self.window.tile_attribution(),
            name="render map",
        )
        self._render_job = worker
        self.map_collection = collection
        worker.signals.result.connect(lambda path: self._rendered(worker, path))
        worker.signals.errored.connect(lambda text: self._render_failed(worker, text))
        return self.pool.start(worker)

    @catch_all
    def _rendered(self, worker: Worker, path: Path) -> None:
        if worker is not self._render_job:  # an older render finishing late is dropped
            Path(path).unlink(missing_ok=True)
            return
        self._render_job = None
        self.map_view.show_map(path)
        # A large collection's page is megabytes: keep only the one on screen.
        for old in self.map_view.map_dir.glob("map-*.html"):
            if old != Path(path):
                old.unlink(missing_ok=True)

    @catch_all
    def _render_failed(self, worker: Worker, text: str) -> None:
        if worker is self._render_job:
            self._render_job = None
            self.map_collection = None
        self.failed.emit(f"Could not draw the map: {text}")
