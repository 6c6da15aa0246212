"""The web page behind the map view: it only ever shows the app's own map files.

The map is a local HTML file written by ``sciceapp.engine.mapview.render_map``. The page
refuses every navigation except to files inside the folder those maps are written to, so a
link in a popup, a script or a photo dropped on the view can never take it elsewhere, and
it opens no new windows. JavaScript reaches Python through the ``bridge`` object.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QFile, QIODevice, QObject, QUrl, Signal, Slot
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineScript,
    QWebEngineSettings,
)

from sciceapp.ui.guard import catch_all

log = logging.getLogger("sciceapp.ui")

# Sub-frames (folium popups) may be created empty or from inline source.
SUBFRAME_SCHEMES_OK = ("about:blank", "about:srcdoc")
QWEBCHANNEL_RESOURCE = ":/qtwebchannel/qwebchannel.js"
QWEBCHANNEL_SCRIPT_NAME = "sciceapp-qwebchannel"


class MapBridge(QObject):
    """The QWebChannel object the page calls as ``bridge``: one typed slot per thing the page
    says, each re-emitted as a Qt signal. To let the page say something new, add a signal and
    a ``@Slot`` + ``@catch_all`` method here, and call it from the page script with
    ``call("name", ...)`` (``map_assets/sciceapp_map.js``)."""

    marker_clicked = Signal(str)  # catalogue photo id
    marker_menu = Signal(str, str)  # photo id, marker kind ("reference", "match"), right click
    page_ready = Signal(int)  # the page drew its reference photos; how many markers it has
    overlay_shown = Signal(str, int)  # overlay name, the sequence number it was pushed with
    marker_moved = Signal(str, float, float)  # photo path, new lat, new lon
    map_clicked = Signal(float, float)
    place_wanted = Signal(str, float, float)  # reference photo id, its lat, lon

    @Slot(str)
    @catch_all
    def markerClicked(self, marker_id: str) -> None:  # noqa: N802 - the name the page calls
        self.marker_clicked.emit(str(marker_id))

    @Slot(str, str)
    @catch_all
    def markerMenu(self, marker_id: str, kind: str) -> None:  # noqa: N802
        self.marker_menu.emit(str(marker_id), str(kind))

    @Slot(int)
    @catch_all
    def pageReady(self, markers: int) -> None:  # noqa: N802
        self.page_ready.emit(int(markers))

    @Slot(str, int)
    @catch_all
    def overlayShown(self, name: str, seq: int) -> None:  # noqa: N802
        self.overlay_shown.emit(str(name), int(seq))

    @Slot(str, float, float)
    @catch_all
    def markerMoved(self, photo: str, lat: float, lon: float) -> None:  # noqa: N802
        """A photo's own marker (recorded GPS, or its prediction) was dragged and dropped."""
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            self.marker_moved.emit(str(photo), float(lat), float(lon))

    @Slot(str, float, float)
    @catch_all
    def placeWanted(self, marker_id: str, lat: float, lon: float) -> None:  # noqa: N802
        """A reference photo's popup opened: it wants the place name of its position."""
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            self.place_wanted.emit(str(marker_id), float(lat), float(lon))

    @Slot(float, float)
    @catch_all
    def mapClicked(self, lat: float, lon: float) -> None:  # noqa: N802
        self.map_clicked.emit(float(lat), float(lon))


def qwebchannel_script() -> QWebEngineScript:
    """Qt's ``qwebchannel.js``, run in every page before its own scripts.

    The map page asks for ``qrc:///qtwebchannel/qwebchannel.js``, but a page loaded from a
    file may not read ``qrc:`` URLs, so the script is injected from Qt's resources instead.
    """
    source = QFile(QWEBCHANNEL_RESOURCE)
    if not source.open(QIODevice.OpenModeFlag.ReadOnly):
        raise RuntimeError(
            f"Qt's {QWEBCHANNEL_RESOURCE} is missing: is PySide6's QtWebChannel installed?"
        )
    script = QWebEngineScript()
    script.setName(QWEBCHANNEL_SCRIPT_NAME)
    script.setSourceCode(bytes(source.readAll().data()).decode("utf-8"))
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    script.setRunsOnSubFrames(False)
    return script


def is_inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


class MapPage(QWebEnginePage):
    """A page that accepts navigation only to local files under ``allowed_dir``."""

    navigation_refused = Signal(str)
    console_message = Signal(str)

    def __init__(self, allowed_dir: Path, parent: QObject | None = None) -> None:
        # Qt 6's default profile is off the record: no cookies, cache or storage on disk.
        super().__init__(QWebEngineProfile.defaultProfile(), parent)
        self.allowed_dir = Path(allowed_dir)
        self.alerts: list[str] = []
        # The map file is local; its tiles come from the user's tile URL (http/https).
        self.settings().setAttribute(
            QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, True
        )
        self.scripts().insert(qwebchannel_script())

    def is_allowed(self, url: QUrl, is_main_frame: bool) -> bool:
        if url.isLocalFile():
            return is_inside(Path(url.toLocalFile()), self.allowed_dir)
        return not is_main_frame and url.toString() in SUBFRAME_SCHEMES_OK

    def acceptNavigationRequest(  # noqa: N802 - Qt override
        self, url: QUrl, nav_type: QWebEnginePage.NavigationType, is_main_frame: bool
    ) -> bool:
        if self.is_allowed(url, is_main_frame):
            return True
        log.info("Map view refused to navigate to %s", url.toString())
        self.navigation_refused.emit(url.toString())
        return False

    def createWindow(self, _type: QWebEnginePage.WebWindowType) -> QWebEnginePage | None:  # noqa: N802
        self.navigation_refused.emit("a new window")
        return None

    def javaScriptAlert(self, _origin: QUrl, message: str) -> None:  # noqa: N802 - Qt override
        """Our pages never call alert(); one would come from injected script: log, show nothing."""
        log.warning("Map page tried to show an alert: %r", message)
        self.alerts.append(message)

    def javaScriptConsoleMessage(self, level, message: str, line: int, source: str) -> None:  # noqa: N802
        log.debug("map js [%s] %s:%s %s", level, source, line, message)
        self.console_message.emit(message)
