"""The Help menu: About (version, the model in use, the data folder) and the user guide."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMessageBox

from sciceapp import __version__
from sciceapp.ui.guard import catch_all

GUIDE = "docs/gui.md"  # the window's user guide, beside the README in the repository


def user_guide() -> Path | None:
    """The guide's file in a checkout (wheels and the desktop bundle do not carry docs/)."""
    candidate = Path(__file__).resolve().parents[2] / GUIDE
    return candidate if candidate.is_file() else None


def about_text(window: Any) -> str:
    """Rich text (every value escaped): version, the model used for new collections and the
    selected collection's, and the data folder."""
    summary = window.collections.current_summary()
    chosen = window.settings.model_path or "none chosen yet (Models, Ctrl+M)"
    lines = [
        f"<b>sciceapp {html.escape(__version__)}</b>: where was this photo taken?",
        f"Model for new collections: {html.escape(str(chosen))}",
    ]
    if summary is not None:
        label = getattr(summary, "model_label", "") or "unknown"
        lines.append(f"Model of “{html.escape(summary.name)}”: {html.escape(str(label))}")
    lines.append(f"Data folder: {html.escape(str(window.data_dir))}")
    return "<br>".join(lines)


def install_help_menu(window: Any) -> dict[str, QAction]:
    menu = window.menuBar().addMenu("&Help")
    guide = QAction("&User guide", window)
    guide.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
    guide.triggered.connect(catch_all(lambda _=False: open_user_guide(window)))
    about = QAction("&About sciceapp", window)
    about.triggered.connect(catch_all(lambda _=False: show_about(window)))
    for action in (guide, about):
        menu.addAction(action)
        window.addAction(action)
    return {"User guide": guide, "About sciceapp": about}


def show_about(window: Any) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "About sciceapp", about_text(window))
    box.setParent(window, box.windowFlags())
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.open()
    window.about_box = box
    return box


def open_user_guide(window: Any) -> bool:
    guide = user_guide()
    if guide is None or not QDesktopServices.openUrl(QUrl.fromLocalFile(str(guide))):
        window.show_error(
            "The user guide is the README of sciceapp's source repository (docs/gui.md for the "
            "window); `sciceapp --help` lists every command."
        )
        return False
    return True
