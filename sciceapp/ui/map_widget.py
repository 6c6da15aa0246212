"""The map view: a QWebEngineView showing one collection's map page, with the QWebChannel bridge.

A page is loaded from its file with ``load(QUrl.fromLocalFile(...))`` (``setHtml`` stops at
2 MB) once per collection. The page says through the bridge when it has drawn its photos
(``pageReady``; ``rendered`` follows every ``show_map``), and everything else (the selected
query, a survey review, where to look) is pushed into it as overlays, so selecting a query
never reloads the page and keeps the user's pan and zoom unless asked to focus. Overlays
pushed while a page loads wait and are drawn when it is ready. Files dropped on the view
become queries: the drop is caught here and never reaches the page as a navigation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QWidget

from sciceapp.ui.dropping import local_paths
from sciceapp.ui.guard import catch_all
from sciceapp.ui.map_page import MapBridge, MapPage

log = logging.getLogger("sciceapp.ui")

READY_TIMEOUT_MS = 60_000


def js_value(value: Any) -> str:
    """``value`` as a JavaScript literal (ASCII JSON: no character can end the script)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


class MapView(QWebEngineView):
    """Shows one map page at a time; ``rendered(ok)`` follows every ``show_map``."""

    rendered = Signal(bool)
    marker_clicked = Signal(str)
    marker_menu = Signal(str, str)
    marker_moved = Signal(str, float, float)  # a photo's marker dragged: path, lat, lon
    map_clicked = Signal(float, float)
    files_dropped = Signal(list)

    def __init__(self, map_dir: Path, parent: QWidget | None = None, *, pool: Any = None) -> None:
        super().__init__(parent)
        self.map_dir = Path(map_dir)
        self.map_page = MapPage(self.map_dir, self)
        self.setPage(self.map_page)
        self.bridge = MapBridge(self)
        self.bridge.marker_clicked.connect(self.marker_clicked)
        self.bridge.marker_menu.connect(self.marker_menu)
        self.bridge.page_ready.connect(self._on_page_ready)
        self.bridge.overlay_shown.connect(self._on_overlay_shown)
        self.bridge.marker_moved.connect(self.marker_moved)
        self.bridge.map_clicked.connect(self.map_clicked)
        self.bridge.place_wanted.connect(self._name_place)
        self.pool = pool  # the window's WorkerPool: reference photos' place names, looked up
        self.channel = QWebChannel(self.map_page)
        self.channel.registerObject("bridge", self.bridge)
        self.map_page.setWebChannel(self.channel)
        self.current_file: Path | None = None
        self.is_ready = False
        self.loading = False
        self.page_loads = 0  # pages that reported ready through the bridge
        self.overlays: dict[str, list[Any]] = {}  # what each overlay shows (re-sent on a load)
        self._unshown: dict[str, int] = {}  # overlay -> sequence number not yet acknowledged
        self._seq = 0
        self._focus: list[list[float]] | None = None  # bounds to show once the page is ready
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._give_up)
        self.loadFinished.connect(self._on_load_finished)
        self.setAcceptDrops(True)
        self._filtered: set[int] = set()

    # -- loading -------------------------------------------------------------------------
    def show_map(self, html_file: Path) -> None:
        """Load a page; the overlays shown so far are drawn on it once it is ready."""
        self.current_file = Path(html_file)
        self.is_ready = False
        self.loading = True
        self._deadline.start(READY_TIMEOUT_MS)
        self.load(QUrl.fromLocalFile(str(self.current_file)))

    @property
    def busy(self) -> bool:
        """A page is loading, or an overlay pushed into it is not drawn yet."""
        return self.loading or bool(self._unshown)

    @catch_all
    def _on_load_finished(self, ok: bool) -> None:
        self._watch_render_widget()
        if not ok and self.loading:
            self._finish(False)

    @catch_all
    def _on_page_ready(self, _markers: int) -> None:
        self.page_loads += 1
        if not self.loading:
            return
        self._finish(True)
        for name in list(self.overlays):
            self._push(name)
        if self._focus is not None:
            self.focus(self._focus)

    def _give_up(self) -> None:
        log.warning("The map did not finish rendering in %d s", READY_TIMEOUT_MS // 1000)
        self._finish(False)

    def _finish(self, ok: bool) -> None:
        self._deadline.stop()
        self.is_ready = ok
        self.loading = False
        if not ok:
            self._unshown.clear()
        self.rendered.emit(ok)

    # -- talking to the page -------------------------------------------------------------
    def run_js(self, script: str, callback: Callable[[Any], None] | None = None) -> None:
        if callback is None:
            self.page().runJavaScript(script, 0)
        else:
            self.page().runJavaScript(script, 0, catch_all(callback))

    @catch_all
    def _name_place(self, marker_id: str, lat: float, lon: float) -> None:
        """Look the name up in a worker (the first lookup reads GeoNames: seconds), then
        hand it to the page, which puts it in the popup if that is still open."""
        if self.pool is None:
            return
        from sciceapp.ui.jobs import place_name
        from sciceapp.ui.workers import Worker

        worker = Worker(place_name, (lat, lon), name="place name")
        worker.signals.result.connect(
            lambda place: self.run_js(
                f"window.sciceapp.setPlace({js_value(marker_id)}, {js_value(place or '')})"
            )
        )
        self.pool.start(worker)

    def set_overlay(self, name: str, items: list[Any]) -> None:
        """Show ``items`` as the overlay ``name`` ("queries", "review"), replacing what it
        showed; an empty list clears it."""
        self.overlays[name] = list(items)
        self._push(name)

    def _push(self, name: str) -> None:
        if not self.is_ready:
            return  # drawn when the page is ready (_on_page_ready)
        self._seq += 1
        self._unshown[name] = self._seq
        items = js_value(self.overlays.get(name, []))
        self.run_js(f"window.sciceapp.setOverlay({js_value(name)}, {items}, {self._seq})")

    def _on_overlay_shown(self, name: str, seq: int) -> None:
        if self._unshown.get(name) == seq:
            del self._unshown[name]

    def focus(self, bounds: list[list[float]] | None) -> None:
        """Fit the view to ``bounds`` ([[south, west], [north, east]]) now, or once ready."""
        if bounds is None:
            return
        self._focus = bounds
        if self.is_ready:
            self._focus = None
            self._seq += 1
            self._unshown["focus"] = self._seq  # acknowledged like an overlay
            self.run_js(f"window.sciceapp.focus({js_value(bounds)}, {self._seq})")

    def set_review_options(self, *, show_agreeing: bool) -> None:
        options = js_value({"showAgreeing": show_agreeing})
        self.run_js(f"window.sciceapp && window.sciceapp.setReviewOptions({options})")

    def highlight(self, marker_id: str) -> None:
        """Highlight one marker (a reference photo id) on the map."""
        self.run_js(f"window.sciceapp && window.sciceapp.highlight({js_value(str(marker_id))})")

    # -- drops: files become queries, never navigations -------------------------------------
    def _watch_render_widget(self) -> None:
        """The page draws into a child widget that receives drag events before the view."""
        for child in self.findChildren(QWidget):
            if id(child) not in self._filtered:
                child.installEventFilter(self)
                self._filtered.add(id(child))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            return self._accept_drag(event)
        if event.type() == QEvent.Type.Drop:
            self.dropEvent(event)
            return True
        return super().eventFilter(watched, event)

    def _accept_drag(self, event: QDragEnterEvent) -> bool:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        self._accept_drag(event)

    def dragMoveEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        self._accept_drag(event)

    @catch_all
    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = local_paths(event.mimeData())
        event.setDropAction(event.proposedAction())
        event.accept()
        if paths:
            self.files_dropped.emit([str(p) for p in paths])
