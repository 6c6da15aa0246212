"""Right-click menus on query rows, matches (in the strip and on the map): open, reveal in the
file manager, copy coordinates, show on map, remove this query.

Other parts add entries to the match menu by appending to ``MATCH_MENU_EXTRAS`` a function
``(menu, window, match) -> None`` (for example "Why this match?"); each runs after the
standard entries, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QUrl
from PySide6.QtGui import QCursor, QDesktopServices
from PySide6.QtWidgets import QApplication, QMenu

from sciceapp.ui.formatting import format_latlon
from sciceapp.ui.guard import catch_all

MATCH_MENU_EXTRAS: list[Callable[[QMenu, Any, Any], None]] = []


def _add(menu: QMenu, text: str, slot: Callable[[], Any], enabled: bool = True) -> None:
    action = menu.addAction(text)
    action.setEnabled(enabled)
    action.triggered.connect(catch_all(lambda _checked=False: slot()))


def reveal_in_file_manager(window: Any, path: str) -> bool:
    """Open the folder that holds ``path`` in the system's file manager."""
    folder = Path(path).parent
    if not folder.is_dir() or not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        window.show_error(f"Cannot show the folder {folder}: no file manager answered.")
        return False
    return True


def copy_point(window: Any, point: tuple[float, float] | None, what: str) -> None:
    if point is None:
        window.show_error(f"The {what} has no coordinates.")
        return
    text = format_latlon(*point)
    QApplication.clipboard().setText(text)
    window.statusBar().showMessage(f"Copied {text} ({what})", 5000)


def query_menu(window: Any, row: int) -> QMenu:
    """The menu of the query in table row ``row``."""
    query = window.query_model.rows[row]
    result = query.result
    predicted = result.predicted if result is not None and not result.error else None
    menu = QMenu(window)
    _add(menu, "Open photo", lambda: window.open_in_viewer(query.path))
    _add(menu, "Show in file manager", lambda: reveal_in_file_manager(window, query.path))
    _add(
        menu,
        "Copy predicted coordinates",
        lambda: copy_point(window, predicted, "prediction"),
        predicted is not None,
    )
    _add(menu, "Show on map", lambda: window.query_table.selectRow(row), predicted is not None)
    menu.addSeparator()
    _add(menu, "Remove this query", lambda: window.remove_query(row))
    return menu


def match_menu(window: Any, match: Any) -> QMenu:
    """The menu of one match (from the strip or its marker on the map)."""
    point = (match.lat, match.lon) if match.has_gps else None
    menu = QMenu(window)
    _add(menu, "Open photo", lambda: window.open_in_viewer(str(match.path)))
    _add(menu, "Show in file manager", lambda: reveal_in_file_manager(window, str(match.path)))
    _add(menu, "Copy coordinates", lambda: copy_point(window, point, "match"), point is not None)
    _add(
        menu,
        "Show on map",
        lambda: window.map_view.highlight(str(match.photo_id)),
        point is not None,
    )
    for extra in MATCH_MENU_EXTRAS:
        extra(menu, window, match)
    return menu


def popup(menu: QMenu, at: QPoint | None = None) -> QMenu:
    """Show ``menu`` without blocking (tests read it, then close it)."""
    menu.popup(at if at is not None else QCursor.pos())
    return menu


def install(window: Any) -> None:
    """Connect the table, the strip and the map's right clicks to their menus."""
    from PySide6.QtCore import Qt

    table, strip = window.query_table, window.strip
    table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    strip.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def on_table(pos: QPoint) -> None:
        row = table.indexAt(pos).row()
        if row >= 0:
            window.context_menu = popup(query_menu(window, row), table.viewport().mapToGlobal(pos))

    def on_strip(pos: QPoint) -> None:
        item = strip.itemAt(pos)
        if item is not None:
            match = strip.matches[strip.row(item)]
            window.context_menu = popup(match_menu(window, match), strip.mapToGlobal(pos))

    def on_marker(marker_id: str, _kind: str) -> None:
        match = next((m for m in strip.matches if str(m.photo_id) == marker_id), None)
        if match is not None:
            window.context_menu = popup(match_menu(window, match))

    table.customContextMenuRequested.connect(catch_all(on_table))
    strip.customContextMenuRequested.connect(catch_all(on_strip))
    window.map_view.marker_menu.connect(catch_all(on_marker))
