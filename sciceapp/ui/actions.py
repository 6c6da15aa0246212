"""The window's commands: menu entries, toolbar buttons and keyboard shortcuts, declared once."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction, QKeySequence

from sciceapp.ui.guard import catch_all

# (menu text, shortcut, MainWindow method, on the toolbar)
ACTIONS: tuple[tuple[str, str | QKeySequence.StandardKey, str, bool], ...] = (
    ("&New collection…", QKeySequence.StandardKey.New, "new_collection", True),
    ("&Add folders to collection…", "Ctrl+Shift+A", "add_folders", False),
    ("&Update collection", "F5", "update_collection", True),
    ("&Open photos…", QKeySequence.StandardKey.Open, "open_photos", True),
    ("Open &folder of photos…", "Ctrl+Shift+O", "open_query_folder", False),
    ("&Paste photo paths", "Ctrl+Shift+V", "paste_paths", False),
    ("Field survey &review…", "Ctrl+R", "open_review", True),
    ("&Models…", "Ctrl+M", "open_models", True),
    ("&Settings…", "Ctrl+,", "open_settings", True),
    ("&Export map as HTML…", "Ctrl+E", "export_map", True),
    ("&Copy predicted coordinates", "Ctrl+Shift+C", "copy_coordinates", False),
    ("Open photo in &viewer", "Ctrl+Return", "open_current_photo", False),
    ("C&lear queries", "Ctrl+Shift+Delete", "clear_queries", False),
    ("&Quit", QKeySequence.StandardKey.Quit, "close", False),
)


def install_actions(window: Any) -> dict[str, QAction]:
    """Add every action to the window's File menu (and some to a toolbar); returns them by
    their plain name ("Update collection")."""
    menu = window.menuBar().addMenu("&File")
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("main-toolbar")
    by_name: dict[str, QAction] = {}
    for text, shortcut, method, on_toolbar in ACTIONS:
        action = QAction(text, window)
        action.setShortcut(QKeySequence(shortcut))
        slot = getattr(window, method)
        action.triggered.connect(catch_all(lambda _checked=False, s=slot: s()))
        window.addAction(action)
        menu.addAction(action)
        if on_toolbar:
            toolbar.addAction(action)
        by_name[text.replace("&", "").rstrip("…")] = action
    return by_name
