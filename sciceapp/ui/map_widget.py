"""The map view: a QWebEngineView showing rendered map files, with the QWebChannel bridge.

Maps are loaded from files with ``load(QUrl.fromLocalFile(...))`` (``setHtml`` stops at
2 MB). After each load the view polls ``window.sciceapp.ready`` (set by the page when
Leaflet has drawn) and emits ``rendered``. Files dropped on the view become queries: the
drop is caught here and never reaches the page as a navigation.
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

READY_POLL_MS = 50
READY_TIMEOUT_MS = 30_000


class MapView(QWebEngineView):
    """Shows one map file at a time; ``rendered(ok)`` follows every ``show_map``."""

    rendered = Signal(bool)
    marker_clicked = Signal(str)
    marker_moved = Signal(str, float, float)  # a photo's marker dragged: path, lat, lon
    map_clicked = Signal(float, float)
    files_dropped = Signal(list)

    def __init__(self, map_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.map_dir = Path(map_dir)
        self.map_page = MapPage(self.map_dir, self)
        self.setPage(self.map_page)
        self.bridge = MapBridge(self)
        self.bridge.marker_clicked.connect(self.marker_clicked)
        self.bridge.marker_moved.connect(self.marker_moved)
        self.bridge.map_clicked.connect(self.map_clicked)
        self.channel = QWebChannel(self.map_page)
        self.channel.registerObject("bridge", self.bridge)
        self.map_page.setWebChannel(self.channel)
        self.current_file: Path | None = None
        self.is_ready = False
        self.loading = False
        self._poll = QTimer(self)
        self._poll.setInterval(READY_POLL_MS)
        self._poll.timeout.connect(self._check_ready)
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._give_up)
        self.loadFinished.connect(self._on_load_finished)
        self.setAcceptDrops(True)
        self._filtered: set[int] = set()

    # -- loading -------------------------------------------------------------------------
    def show_map(self, html_file: Path) -> None:
        self.current_file = Path(html_file)
        self.is_ready = False
        self.loading = True
        self._poll.stop()
        self._deadline.start(READY_TIMEOUT_MS)
        self.load(QUrl.fromLocalFile(str(self.current_file)))

    @catch_all
    def _on_load_finished(self, ok: bool) -> None:
        self._watch_render_widget()
        if not ok:
            self._finish(False)
            return
        self._poll.start()

    @catch_all
    def _check_ready(self) -> None:
        self.run_js("!!(window.sciceapp && window.sciceapp.ready)", self._on_ready_value)

    def _on_ready_value(self, value: Any) -> None:
        if value is True and not self.is_ready and self._poll.isActive():
            self._finish(True)

    def _give_up(self) -> None:
        log.warning("The map did not finish rendering in %d s", READY_TIMEOUT_MS // 1000)
        self._finish(False)

    def _finish(self, ok: bool) -> None:
        self._poll.stop()
        self._deadline.stop()
        self.is_ready = ok
        self.loading = False
        self.rendered.emit(ok)

    # -- talking to the page -------------------------------------------------------------
    def run_js(self, script: str, callback: Callable[[Any], None] | None = None) -> None:
        if callback is None:
            self.page().runJavaScript(script, 0)
        else:
            self.page().runJavaScript(script, 0, catch_all(callback))

    def highlight(self, marker_id: str) -> None:
        """Highlight one marker (a reference photo id) on the map."""
        self.run_js(f"window.sciceapp && window.sciceapp.highlight({json.dumps(str(marker_id))})")

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
