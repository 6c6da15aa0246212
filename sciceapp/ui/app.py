"""Start the desktop app: Qt environment, application object, main window."""

from __future__ import annotations

import sys
from pathlib import Path

from sciceapp.ui.qtenv import prepare_qt_environment


def run_app(
    data_dir: str | None = None,
    collection: str | None = None,
    queries: list[str] | None = None,
    screenshot: str | None = None,
) -> int:
    """Open the window (and with ``screenshot`` run the queries, save a PNG, quit)."""
    prepare_qt_environment(offscreen=bool(screenshot))
    from PySide6.QtCore import QCoreApplication, Qt, QTimer
    from PySide6.QtWebEngineWidgets import QWebEngineView  # noqa: F401 - must load before the app
    from PySide6.QtWidgets import QApplication

    from sciceapp.ui.guard import install_excepthook
    from sciceapp.ui.main_window import MainWindow
    from sciceapp.ui.settings import APPLICATION, ORGANIZATION

    install_excepthook()

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    from sciceapp.ui.tile_scheme import register_tile_scheme

    register_tile_scheme()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow(data_dir, first_run_check=not screenshot)
    if screenshot:
        from sciceapp.ui.screenshot import ScreenshotRun

        window.resize(1440, 900)
        run = ScreenshotRun(window, collection, list(queries or []), Path(screenshot))
        window.show()
        app.exec()
        _dispose(window)
        return run.exit_code if run.exit_code is not None else 1
    if collection or queries:
        from sciceapp.ui.screenshot import ScreenshotRun

        # The same sequence as a screenshot run, without the picture and without quitting.
        ScreenshotRun(window, collection, list(queries or []), None, quit_when_done=False)
    window.show()
    QTimer.singleShot(0, window.raise_)
    status = app.exec()
    _dispose(window)
    return status


def _dispose(window: object) -> None:
    """Delete the window (and its web page) before Qt tears down the web profile."""
    from PySide6.QtCore import QCoreApplication, QEvent

    window.deleteLater()  # type: ignore[attr-defined]
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
