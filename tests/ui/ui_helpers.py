"""Helpers of the GUI tests: simulated user input, the window, running the map's JavaScript."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget


def url_mime(paths: list[Path]) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drop_files(widget: QWidget, paths: list[Path]) -> bool:
    """Drag ``paths`` over ``widget`` and drop them; returns whether the drag was accepted."""
    mime = url_mime(paths)
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    action = Qt.DropAction.CopyAction
    # Qt's drag-enter event takes an integer point (PySide6 6.7 accepts nothing else)
    enter = QDragEnterEvent(
        pos.toPoint(), action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(pos, action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted()


# Generous: QtWebEngine and the first ONNX session start slowly on a loaded 2-core machine.
WAIT_MS = 60_000


def make_window(qtbot, data_dir: Path, store: QSettings, *, first_run_check: bool = False):
    from sciceapp.ui.main_window import MainWindow

    window = MainWindow(data_dir, store, first_run_check=first_run_check)
    qtbot.addWidget(window)
    return window


def run_js(qtbot, view, script: str):
    """Evaluate ``script`` in the map page and return its value."""
    box: dict = {}
    view.page().runJavaScript(script, 0, lambda value: box.setdefault("value", value))
    qtbot.waitUntil(lambda: "value" in box, timeout=10_000)
    return box["value"]
