"""File dialogs that open where the user last was: the folder of the last file or folder
chosen in any of the app's dialogs, kept in QSettings so it also holds after a restart.

A dialog given a path of its own (a field that already names a file) starts there instead.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from sciceapp.ui.settings import make_qsettings

LAST_FOLDER_KEY = "dialogs/last_folder"


def last_folder() -> str:
    """The folder the next dialog opens in ("" before the first choice: Qt's default)."""
    folder = str(make_qsettings().value(LAST_FOLDER_KEY, "") or "")
    return folder if folder and Path(folder).is_dir() else ""


def remember(chosen: str, *, is_folder: bool) -> None:
    if not chosen:
        return
    folder = chosen if is_folder else str(Path(chosen).parent)
    store = make_qsettings()
    store.setValue(LAST_FOLDER_KEY, folder)
    store.sync()


def _start(given: str = "", file_name: str = "") -> str:
    """Where to open: ``given`` if it names something, else the last folder (with
    ``file_name`` suggested in it)."""
    if given:
        return given
    folder = last_folder()
    if file_name:
        return str(Path(folder) / file_name) if folder else file_name
    return folder


def existing_directory(parent: QWidget | None, title: str, given: str = "") -> str:
    folder = QFileDialog.getExistingDirectory(parent, title, _start(given))
    remember(folder, is_folder=True)
    return folder


def open_file_name(parent: QWidget | None, title: str, pattern: str = "", given: str = "") -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, _start(given), pattern)
    remember(path, is_folder=False)
    return path


def open_file_names(parent: QWidget | None, title: str, pattern: str = "") -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, _start(), pattern)
    if paths:
        remember(paths[0], is_folder=False)
    return list(paths)


def save_file_name(parent: QWidget | None, title: str, file_name: str, pattern: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, title, _start(file_name=file_name), pattern)
    remember(path, is_folder=False)
    return path
